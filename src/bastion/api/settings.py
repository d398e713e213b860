"""Settings of ``bastion serve``: one pydantic object, from the environment and flags, passed explicitly."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field

from bastion.config import Settings, default_home


def _hosts(env: str | None) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in (env or "").split(",") if h.strip())


class ServeSettings(BaseModel):
    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    #: YAML policy file; None = the shipped default
    policy_path: Path | None = None
    #: the restricted folder for bytes of media a person must see; default BASTION_HOME/holding
    holding_dir: Path | None = None
    #: request bodies larger than this are refused with 413 before they are read whole
    max_body_bytes: int = 64 * 1024 * 1024
    max_batch: int = 1000
    #: hosts URL media may be fetched from (`example.com`, `*.cdn.example.com`); empty = URL media off
    url_media_hosts: tuple[str, ...] = ()
    #: run the batch worker, retro-matcher, index sync and webhook delivery in this process
    background: bool = True
    #: seconds between polls of the bank change log, the job queue and the outbox when nothing can wake the
    #: loops; also how often the SQLite watcher reads PRAGMA data_version (capped at 1 s)
    poll_seconds: float = 1.0
    #: the same while a watcher runs (PostgreSQL LISTEN, SQLite data_version): every commit of any process
    #: wakes the loops, so this poll only catches leases that ran out (a crashed worker's jobs or deliveries)
    listen_poll_seconds: float = 30.0
    #: a claimed batch job not finished within this time is taken over by another worker
    job_lease_seconds: int = 300
    json_logs: bool = True
    #: worker processes that examine uploaded media (bastion.examine.WorkerPool); None: one per core, at most 4
    examine_workers: int | None = Field(default=None, ge=1)
    #: soft seconds one uploaded file may take (decode, hashes, provenance, prompts)
    examine_file_seconds: float = Field(default=30.0, gt=0)
    #: hard seconds all files of one item may take: no item's answer is later (a worker over it is killed)
    examine_item_seconds: float = Field(default=60.0, gt=0)
    #: address-space cap of each examine worker (RLIMIT_AS), bytes; None: the decoders' own caps only
    examine_memory_bytes: int | None = Field(default=None, gt=0)

    @classmethod
    def from_env(cls, **overrides) -> "ServeSettings":
        base = Settings.from_env()
        values = {
            "home": base.home,
            "database_url": base.database_url,
            "policy_path": os.environ.get("BASTION_POLICY") or None,
            "url_media_hosts": _hosts(os.environ.get("BASTION_URL_MEDIA_HOSTS")),
        }
        if os.environ.get("BASTION_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(os.environ["BASTION_MAX_BODY_BYTES"])
        for key, env, kind in (("examine_workers", "BASTION_EXAMINE_WORKERS", int),
                               ("examine_file_seconds", "BASTION_EXAMINE_FILE_SECONDS", float),
                               ("examine_item_seconds", "BASTION_EXAMINE_ITEM_SECONDS", float),
                               ("examine_memory_bytes", "BASTION_EXAMINE_MEMORY_BYTES", int)):
            if os.environ.get(env):
                values[key] = kind(os.environ[env])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def store_settings(self) -> Settings:
        return Settings(home=self.home, database_url=self.database_url)

    @property
    def holding(self) -> Path:
        return self.holding_dir or (self.home / "holding")
