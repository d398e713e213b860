"""Shared fixtures. ``store`` runs each test on a real SQLite file AND on a real PostgreSQL.

PostgreSQL comes from ``BASTION_TEST_POSTGRES_URL`` (default: the local server with trust auth, database
``test``). Each test gets a schema of its own, dropped afterwards. When the server cannot be reached the
PostgreSQL variant is skipped with a reason starting "PostgreSQL unavailable". `.ci/run` counts the
PostgreSQL tests that passed (written to ``BASTION_TEST_POSTGRES_PASSED`` when set) and fails when none did,
so CI never goes green without PostgreSQL.

Every test runs with a ``BASTION_HOME`` of its own (never the real ``~/.local/share/bastion``) and without
the user's ``BASTION_DATABASE_URL`` / ``BASTION_DEBUG``.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_URL = os.environ.get("BASTION_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

_pg_checked: list[str | None] = []


@pytest.fixture(autouse=True)
def _own_bastion_home(tmp_path_factory, monkeypatch):
    """Nothing a test does lands in the real user home (index caches, default stores)."""
    monkeypatch.setenv("BASTION_HOME", str(tmp_path_factory.mktemp("bastion-home")))
    monkeypatch.delenv("BASTION_DATABASE_URL", raising=False)
    monkeypatch.delenv("BASTION_DEBUG", raising=False)


def pytest_runtest_logreport(report):
    """Record PostgreSQL tests that passed, for `.ci/run` (a skip message is not proof they ran)."""
    target = os.environ.get("BASTION_TEST_POSTGRES_PASSED")
    if target and report.when == "call" and report.passed and "postgres" in report.keywords:
        with open(target, "a", encoding="utf-8") as f:
            f.write(report.nodeid + "\n")


def _pg_problem() -> str | None:
    if not _pg_checked:
        try:
            import psycopg

            dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                conn.execute("select 1")
            _pg_checked.append(None)
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            _pg_checked.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    return _pg_checked[0]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bastion.db'}"
        return
    problem = _pg_problem()
    if problem:
        pytest.skip(f"PostgreSQL unavailable at {PG_URL}: {problem}")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(database_url):
    from bastion.store.db import open_store

    s = open_store(database_url)
    yield s
    s.close()


@pytest.fixture
def unavailable_classifier():
    """``register(name, reason)``: a classifier ``name`` whose model cannot load (it raises
    ClassifierUnavailable(reason)), registered in this process until the test ends."""
    from bastion import classifiers as clf

    names: list[str] = []

    def register(name: str, reason: str) -> None:
        class Unavailable(clf.Classifier):
            model, version = "m", "1"

            def load(self):
                raise clf.ClassifierUnavailable(reason)

        Unavailable.name = name
        clf.register(name, Unavailable)
        names.append(name)

    yield register
    for name in names:
        clf.unregister(name)
