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
    s = open_store(f"sqlite:///{tmp_path / 'b.db'}")
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


def test_the_shipped_head_read_from_the_files_is_alembics_head():
    from bastion.store.db import _shipped_head

    assert _shipped_head() == head_revision() is not None


def test_opening_a_store_at_head_does_not_need_alembic(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'b.db'}"
    open_store(url).close()  # created and migrated here
    code = ("import sys; from bastion.store.db import open_store, current_revision; s = open_store(sys.argv[1]); "
            "print('alembic' in sys.modules); s.close()")
    r = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_a_store_behind_head_is_still_migrated(database_url):
    from alembic import command

    from bastion.store.db import _alembic_config

    store = open_store(database_url)
    cfg = _alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "-1")
    assert current_revision(store.engine) != head_revision()
    store.close()
    again = open_store(database_url)
    assert current_revision(again.engine) == head_revision()
    again.close()


def test_every_module_with_tables_is_listed_for_alembic():
    """A models module missing from SERVICE_MODELS would be invisible to Alembic's target metadata."""
    import pathlib

    import bastion
    from bastion.store.schema import SERVICE_MODELS

    root = pathlib.Path(bastion.__file__).parent
    declaring = {
        "bastion." + ".".join(p.relative_to(root).with_suffix("").parts)
        for p in root.rglob("*.py")
        if "(Base)" in p.read_text(encoding="utf-8") and p.name != "schema.py"
    }
    assert declaring == set(SERVICE_MODELS)
