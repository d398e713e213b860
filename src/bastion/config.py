"""Settings: one pydantic object, read from the environment once, passed explicitly afterwards.

The embedded default is a SQLite file in a local folder (``BASTION_HOME``, default
``~/.local/share/bastion``); production points ``BASTION_DATABASE_URL`` at PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field


def default_home() -> Path:
    env = os.environ.get("BASTION_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "bastion"


class Settings(BaseModel):
    home: Path = Field(default_factory=default_home)
    database_url: str | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(home=default_home(), database_url=os.environ.get("BASTION_DATABASE_URL") or None)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'bastion.db'}"
