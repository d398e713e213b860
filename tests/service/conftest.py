"""Fixtures of the service tests: an app on a real SQLite file and a real PostgreSQL (see tests/conftest.py),
users of every role with a token each, and a client that speaks HTTP to the app in process. The app itself
is built by svc_helpers.make_api (a module of its own, so tests import it by a name no other folder's
conftest takes)."""

from __future__ import annotations

import warnings

import pytest
from svc_helpers import make_api

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")


@pytest.fixture
def api(database_url, tmp_path):
    a = make_api(database_url, tmp_path / "home")
    with a.client:
        yield a
    a.app.state.store.close()
