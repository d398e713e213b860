"""Secrets and permissions (issue 12, item 7): the store and the index cache are owner-only whatever the
umask, and database errors never print the statement's values."""

from __future__ import annotations

import os
import stat

import pytest
from sqlalchemy import text

from bastion.banks.matcher import Matcher
from bastion.banks.repo import BankRepository
from bastion.model import Bank, HashEntry
from bastion.store.db import open_store

PDQ = "f" * 64


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)  # a common default: files 0644, folders 0755
    yield
    os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_store_cache_and_their_folders_are_owner_only(tmp_path, open_umask):
    from bastion.config import Settings

    os.chmod(tmp_path, 0o755)
    before = mode(tmp_path)
    home = tmp_path / "home" / "bastion"
    store = open_store(settings=Settings(home=home))  # the home folder (not a URL's) is created, owner-only
    try:
        repo = BankRepository(store)
        repo.create(Bank(name="k"))
        repo.add_entries("k", [HashEntry("pdq", PDQ)])
        Matcher.from_store(store, cache_dir=home / "cache")
    finally:
        store.close()
    assert mode(home) == 0o700 and mode(tmp_path / "home") == 0o700
    assert mode(home / "bastion.db") == 0o600
    for side in ("bastion.db-wal", "bastion.db-shm"):
        if (home / side).exists():
            assert mode(home / side) == 0o600, side
    assert mode(home / "cache") == 0o700
    cached = list((home / "cache").iterdir())
    assert cached and all(mode(p) == 0o600 for p in cached), [(p.name, oct(mode(p))) for p in cached]
    assert mode(tmp_path) == before == 0o755  # a folder that already existed is left as it was


def test_database_errors_never_show_the_statements_values(store):
    secret_value = "0123456789abcdef" * 4
    with pytest.raises(Exception) as err:
        with store.session() as s, s.begin():
            s.execute(text("INSERT INTO no_such_table (v) VALUES (:v)"), {"v": secret_value})
    assert secret_value not in str(err.value)


def test_mask_url_hides_passwords_of_urls_and_connection_strings():
    from bastion.errors import ConfigError
    from bastion.store.db import make_engine, mask_url

    assert mask_url("postgresql+psycopg://user:s3cr%40t@db:5432/x") == "postgresql+psycopg://user:***@db:5432/x"
    assert mask_url("host=db password=s3cret user=u") == "host=db password=*** user=u"
    assert mask_url("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    with pytest.raises(ConfigError) as err:
        make_engine("postgresql://user:s3cret@db:notaport/x")
    assert "s3cret" not in str(err.value) and "***" in str(err.value)
