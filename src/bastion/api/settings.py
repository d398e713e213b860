"""Settings of ``bastion serve``: :class:`bastion.config.Settings` and what only the server uses.

Built once per process with :meth:`ServeSettings.from_env` (defaults, environment, flags) and passed to
:func:`bastion.api.app.create_app`; nothing below reads the environment. The holding folder, the store, the
policy and the URL-media limits are the common settings, so the server and the CLI read them alike.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from bastion.config import Settings


class ServeSettings(Settings):
    #: the common variables and the server's own (all in ``docs/configuration.md``)
    ENVIRONMENT: ClassVar[dict[str, str]] = {
        **Settings.ENVIRONMENT,
        "examine_workers": "BASTION_EXAMINE_WORKERS",
        "examine_file_seconds": "BASTION_EXAMINE_FILE_SECONDS",
        "examine_item_seconds": "BASTION_EXAMINE_ITEM_SECONDS",
        "examine_memory_bytes": "BASTION_EXAMINE_MEMORY_BYTES",
        "classifiers": "BASTION_CLASSIFIERS",
        "similar_radius": "BASTION_SIMILAR_RADIUS",
        "similar_retro_days": "BASTION_SIMILAR_RETRO_DAYS",
        "similar_layout_radius": "BASTION_SIMILAR_LAYOUT_RADIUS",
    }

    max_batch: int = 1000
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
    #: image classifiers run on every uploaded still image (bastion.classifiers, docs/classifiers.md): names,
    #: ``local`` for the built-in ones; empty: none. The server refuses to start when one cannot load.
    classifiers: tuple[str, ...] = ()
    #: bits: an image within this PDQ distance of a confirmed case's media gets a ``similar_to_confirmed``
    #: signal (bastion.cases.similar; never a match). 0: not looked for
    similar_radius: int = Field(default=76, ge=0, le=256)
    #: bits: beyond ``similar_radius`` and up to this, a candidate counts only when the two pictures' coarse
    #: colour layouts agree (the second look, docs/similar.md); 0 (or not above the radius): PDQ alone
    similar_layout_radius: int = Field(default=90, ge=0, le=256)
    #: when a case is confirmed, items stored in the last this many days are compared with its media
    similar_retro_days: float = Field(default=30.0, ge=0)
    #: a JSON POST /v1/items takes bastion.api.fastpath (same answers, fewer layers); off only to compare
    item_fast_path: bool = True

    @field_validator("classifiers", mode="before")
    @classmethod
    def _classifier_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip().lower() for v in value.split(",") if v.strip())
        return value
