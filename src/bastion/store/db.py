"""Opening the store: engine, connection pragmas, migrations.

SQLite is the embedded default (WAL mode, foreign keys on); PostgreSQL is used when the URL says so.
The schema is always brought to the latest Alembic revision on open, so a user never runs a separate
migration step; ``auto_migrate=False`` lets an operator run them deliberately instead.
"""

from __future__ import annotations

import os
import re
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Iterator

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bastion.config import DEFAULT_LOCK_WAIT, Settings
from bastion.errors import ConfigError, StoreMissing
from bastion.masking import mask_secrets
from bastion.private import private_dir, private_file

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


#: ``text`` with the passwords of database URLs and key=value connection strings replaced by ``***`` (the
#: one masker, :mod:`bastion.masking`, which the CLI's error printer uses too).
mask_url = mask_secrets


def _alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _utc_datetime_type():
    """SQLite's DATETIME for ``DateTime(timezone=True)`` columns that reads values back as UTC-aware
    datetimes, as PostgreSQL does. SQLite has no time zone type: Bastion writes UTC, and without this every
    timestamp read from SQLite came back naive and was printed without an offset (ISO 8601 needs one)."""
    from sqlalchemy.dialects.sqlite.base import DATETIME

    from bastion.clock import as_utc

    class UtcDateTime(DATETIME):
        def result_processor(self, dialect, coltype):
            base = super().result_processor(dialect, coltype)
            if not self.timezone:
                return base

            def process(value):
                return as_utc(base(value) if base is not None else value)

            return process

    return UtcDateTime


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # 256 MB page cache (default 2 MB): index inserts of random hashes thrash a small cache.
    cur.execute("PRAGMA cache_size=-262144")
    cur.close()


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``. A SQLite file is created (0600) only with ``create``, and only in a folder that
    exists: a URL into a folder that does not exist is a typo far more often than a wish for new folders."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise ConfigError(f"invalid database URL {mask_url(url)!r}: {mask_url(str(exc))}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            folder = path.parent
            if folder.exists() and not folder.is_dir():
                raise ConfigError(f"the store's folder {folder} is not a folder; set BASTION_HOME or --database-url")
            if not path.exists():
                if not create:
                    raise StoreMissing(_missing_message(str(path)))
                if not folder.is_dir():
                    raise ConfigError(
                        f"the store's folder {folder} does not exist (Bastion creates no folders for a database "
                        "URL: check it for a typo, or create the folder first)"
                    )
            try:
                # The store holds hash lists and scan records: owner-only, whatever the umask (the -wal and
                # -shm files SQLite makes beside it take the database file's mode).
                private_file(database)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the store {database} ({exc.strerror or exc}); set BASTION_HOME or "
                    "--database-url to a writable place"
                ) from exc
        engine = create_engine(url, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        from sqlalchemy import types as sqltypes

        # This engine's dialect only (an instance attribute): timestamps come back aware, in UTC.
        engine.dialect.colspecs = {**engine.dialect.colspecs, sqltypes.DateTime: _utc_datetime_type()}
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        # Plain postgresql:// (and the postgres:// other tools accept) means psycopg 3 here (psycopg2 is not
        # a dependency).
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    try:
        # hide_parameters: a database error never prints the statement's values (hash values, paths).
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
    except ImportError as exc:
        if (exc.name or "").split(".")[0].startswith("psycopg"):
            raise ConfigError("PostgreSQL support is not installed: pip install 'bastion[postgres]'") from exc
        raise ConfigError(f"the driver for {parsed.drivername} is not installed ({exc.name or exc})") from exc
    except Exception as exc:  # unknown dialect or driver: NoSuchModuleError, ArgumentError
        raise ConfigError(f"unsupported database URL {url!r}: {exc}") from exc
    if engine.dialect.name == "postgresql":
        # A many-row INSERT without RETURNING (a group's term rows, case links) is one multi-row statement, as
        # SQLAlchemy already sends those with RETURNING: psycopg's executemany runs it once per row (measured
        # on the item path: 9.8 executions per text item, 8.1 of them such rows, against 0.76 statements).
        engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def advisory_lock_id(name: str) -> int:
    """The PostgreSQL advisory lock id of Bastion's lock ``name``: every lock Bastion takes — the migration lock
    below and the writers' locks (:mod:`bastion.store.writers`) — is named and numbered here, one scheme (a
    signed 32-bit CRC of ``bastion:<name>``), so two of them never meet on one id by accident of two schemes."""
    return zlib.crc32(f"bastion:{name}".encode()) - (1 << 31)


#: the advisory lock held while a process migrates the store
MIGRATION_LOCK = "schema-migration"


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One process at a time migrates a store. Two processes opening the same new (or older) store at once —
    two servers, a server and a consumer, a command beside a running server — would otherwise both create
    its tables, and the second would fail ("table banks already exists"). PostgreSQL: a session advisory
    lock; a SQLite file: an exclusive ``flock`` on a lock file beside it (not on the database file itself,
    whose POSIX locks SQLite's own connections in this process would lose when that descriptor closed)."""
    name = engine.dialect.name
    if name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": advisory_lock_id(MIGRATION_LOCK)})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": advisory_lock_id(MIGRATION_LOCK)})
                conn.commit()
        return
    database = engine.url.database if name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    import fcntl

    fd = os.open(f"{database}-migrate.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


_REVISION_LINE = re.compile(r'^(revision|down_revision)\s*(?::[^=]*)?=\s*["\']([^"\']+)["\']', re.MULTILINE)


def _shipped_head() -> str | None:
    """The head revision of the shipped migrations, read from their files without importing Alembic (which
    costs more than most commands); ``None`` when it cannot be told (then :func:`open_store` asks Alembic).
    ``tests/store/test_store.py`` checks it against Alembic's own answer."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        if "down_revision" in found:
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database is already at the shipped head (one query; no Alembic import)."""
    head = _shipped_head()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except Exception:  # noqa: BLE001 - no version table yet (a new database) or unreadable: let Alembic decide
        return False
    return rows == [head]


@dataclass
class Store:
    """The database handle the shell passes around. Repositories take a ``Session`` from it."""

    engine: Engine
    sessions: sessionmaker[Session]
    #: seconds a writer waits for another one (``Settings.lock_wait``, ``BASTION_LOCK_WAIT``)
    lock_wait: float = DEFAULT_LOCK_WAIT

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def session(self) -> Session:
        return self.sessions()

    @property
    def wake(self):
        """The :class:`bastion.store.wake.WakeHub` of this store's sessions (None for a hand-made sessionmaker)."""
        from bastion.store.wake import hub_of

        return hub_of(self)

    def close(self) -> None:
        self.engine.dispose()


#: How a store comes to exist; named in every "no store" message.
CREATE_HINT = ("create it with `bastion init` (the first `bastion bank create`, `bastion user create` or "
               "`bastion demo` also create it)")


def _missing_message(where: str) -> str:
    return (f"no Bastion store at {mask_url(where)}: check BASTION_HOME / --database-url for a typo, or "
            f"{CREATE_HINT}")


def store_exists(engine: Engine) -> bool:
    """Whether the database behind ``engine`` holds a Bastion store (its migrations' version table). A
    SQLite file that exists counts (an empty one is a store whose creation was interrupted: migrated on open)."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        return not database or database == ":memory:" or database.startswith("file:") or Path(database).exists()
    from sqlalchemy import inspect

    with engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")


def open_store(url: str | None = None, *, settings: Settings | None = None, auto_migrate: bool = True,
               create: bool = True) -> Store:
    """Open (and migrate) the store. ``create=False`` refuses a store that does not exist
    (:class:`~bastion.errors.StoreMissing`) instead of creating it: what every command that reads uses, so a
    mistyped location is an error, never an empty store that finds nothing. With ``create`` the settings' home
    folder is created (0700); the folder of a database URL elsewhere never is."""
    settings = settings or Settings.from_env()
    if url is None:
        url = settings.resolved_database_url()
        if create:  # the home folder is Bastion's own (the default store, holding, vault, caches live there)
            try:
                private_dir(settings.home)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the store's folder {settings.home} ({exc.strerror or exc}); set BASTION_HOME or "
                    "--database-url to a writable place"
                ) from exc
    engine = make_engine(url, create=create)
    if not create and not store_exists(engine):
        engine.dispose()
        raise StoreMissing(_missing_message(engine.url.render_as_string(hide_password=True)))
    if auto_migrate and not _at_head(engine):
        with _migration_lock(engine):
            if not _at_head(engine):  # another process may have migrated while this one waited
                migrate(engine)
    from bastion.store.wake import attach

    sessions = sessionmaker(engine, expire_on_commit=False)
    attach(sessions)
    return Store(engine=engine, sessions=sessions, lock_wait=settings.lock_wait)
