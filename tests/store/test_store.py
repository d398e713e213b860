from sqlalchemy import inspect, text

from bastion.store.db import current_revision, head_revision, open_store


def test_migrations_bring_a_new_store_to_head(store):
    assert current_revision(store.engine) == head_revision() is not None
    tables = set(inspect(store.engine).get_table_names())
    assert {"banks", "bank_entries", "media", "alembic_version"} <= tables


def test_opening_twice_is_idempotent(database_url):
    a = open_store(database_url)
    a.close()
    b = open_store(database_url)
    assert current_revision(b.engine) == head_revision()
    b.close()


def test_sqlite_uses_wal_and_foreign_keys(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'x' / 'b.db'}")  # parent folder is created
    with s.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    s.close()


def test_bad_url_is_a_clear_error():
    import pytest

    from bastion.errors import ConfigError

    with pytest.raises(ConfigError, match="invalid database URL"):
        open_store("not a url")


def test_migrations_and_models_agree(store):
    """A model change without its migration (or the reverse) shows up here, on both backends."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from bastion.store.schema import Base

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_downgrade_to_base_and_back(database_url):
    from sqlalchemy import inspect

    from bastion.store.db import make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)
    from alembic import command

    from bastion.store.db import _alembic_config

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert "banks" not in inspect(engine).get_table_names()
    migrate(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
