"""Fixtures of the service tests: an app on a real SQLite file and a real PostgreSQL (see tests/conftest.py),
users of every role with a token each, and a client that speaks HTTP to the app in process."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pytest

from bastion.auth.permissions import ROLES

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


@dataclass
class Api:
    app: object
    client: object
    tokens: dict[str, str]

    def h(self, role: str = "integration", **extra) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def submit(self, item: dict, role: str = "integration", **kw):
        return self.client.post("/v1/items", json=item, headers=self.h(role, **kw.pop("headers", {})), **kw)

    @property
    def store(self):
        return self.app.state.store


def make_api(database_url: str, home, **settings) -> Api:
    from starlette.testclient import TestClient

    from bastion.api import ServeSettings, create_app
    from bastion.auth import service as auth

    app = create_app(ServeSettings(home=home, database_url=database_url, background=False, json_logs=False, **settings))
    tokens = {}
    with app.state.store.session() as s, s.begin():
        for role in ROLES:
            auth.create_user(s, f"{role}-user", role)  # tokens only: argon2 is tested in test_auth.py
            tokens[role] = auth.create_token(s, f"{role}-user", "test")[1]
    return Api(app, TestClient(app, raise_server_exceptions=False), tokens)


@pytest.fixture
def api(database_url, tmp_path):
    a = make_api(database_url, tmp_path / "home")
    with a.client:
        yield a
    a.app.state.store.close()
