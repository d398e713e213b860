"""Wake-ups for background work: a writer says "there is new work on <channel>" in its transaction, and the
loops waiting on that channel run at once instead of at their next poll.

Channels: ``bank_changes`` (the bank change log: index sync, retro-matching), ``outbox`` (webhook rows),
``jobs`` (batch jobs), ``term_changes`` (the platform's terms: live lexicon, retro-scoring) and ``decisions``
(a case confirmed: the similar-to-confirmed index and its comparison with recent items). A writer calls :func:`announce` inside its transaction:

* in this process, the waiting loops are woken right after the transaction commits (nothing is announced
  for a rolled-back transaction);
* on PostgreSQL it also sends ``NOTIFY`` in the same transaction (PostgreSQL delivers it on commit), and
  every ``bastion serve`` process LISTENs (:class:`Listener`), so a bank hash added by the CLI or by another
  server is applied everywhere within milliseconds;
* SQLite has no notifications between processes: a :class:`SqliteWatcher` reads ``PRAGMA data_version``
  (which changes when any other connection commits) once a poll period on a connection of its own and
  wakes every loop when it changed, so work written by another process (the CLI adding a bank) starts
  within a poll period (1 s by default) while an idle server costs one pragma a second.

Polling stays as the fallback everywhere (a lost connection, a lease that runs out, a retry that falls due);
while a watcher runs it is slow (``listen_poll_seconds``), because no commit is missed.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable

from sqlalchemy import event, text
from sqlalchemy.orm import Session

log = logging.getLogger("bastion.wake")

CHANNELS = ("bank_changes", "outbox", "jobs", "term_changes", "decisions")
_INFO_KEY = "bastion_wake_hub"
_PENDING_KEY = "bastion_wake_pending"


class WakeHub:
    """In-process fan-out: loops :meth:`subscribe` to channels and get a :class:`threading.Event` that is set
    when work is announced on any of them (by this process after a commit, or by the PostgreSQL listener)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[threading.Event]] = {c: [] for c in CHANNELS}
        #: how many announcements reached this hub, per channel (tests and /metrics)
        self.fired: dict[str, int] = {c: 0 for c in CHANNELS}
        #: True while a watcher runs (PostgreSQL LISTEN connected, SQLite data_version read): no commit of
        #: another process is missed, so loops may poll slowly
        self.listening = False

    def subscribe(self, channels: Iterable[str]) -> threading.Event:
        ev = threading.Event()
        with self._lock:
            for c in channels:
                if c not in self._subscribers:
                    raise ValueError(f"unknown wake channel {c!r} (known: {', '.join(CHANNELS)})")
                self._subscribers[c].append(ev)
        return ev

    def unsubscribe(self, ev: threading.Event) -> None:
        with self._lock:
            for subs in self._subscribers.values():
                while ev in subs:
                    subs.remove(ev)

    def fire(self, channel: str) -> None:
        with self._lock:
            if channel not in self._subscribers:
                return
            self.fired[channel] += 1
            for ev in self._subscribers[channel]:
                ev.set()

    def fire_all(self) -> None:
        for c in CHANNELS:
            self.fire(c)

    # --- session hooks (installed on the store's sessionmaker by attach) --------------------------

    def _after_commit(self, session: Session) -> None:
        pending = session.info.pop(_PENDING_KEY, None)
        if pending:
            for c in pending:
                self.fire(c)

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(_PENDING_KEY, None)


def attach(sessions) -> WakeHub:
    """A hub for the sessions of one store (a ``sessionmaker``): sessions it makes carry the hub, and their
    commits wake what they announced."""
    hub = WakeHub()
    sessions.kw.setdefault("info", {})[_INFO_KEY] = hub
    event.listen(sessions, "after_commit", hub._after_commit)
    event.listen(sessions, "after_rollback", WakeHub._after_rollback)
    return hub


def announce(session: Session, channel: str) -> None:
    """Say, inside the caller's transaction, that it adds work on ``channel``. Costs one ``pg_notify`` on
    PostgreSQL (delivered to listeners when the transaction commits) and nothing on SQLite."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown wake channel {channel!r}")
    pending = session.info.get(_PENDING_KEY)
    if pending is None:
        pending = session.info[_PENDING_KEY] = set()
    if channel in pending:
        return  # once per transaction is enough
    pending.add(channel)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(" + _PG_CHANNEL_SQL + ", '')"), {"c": channel})


#: the PostgreSQL channel of a wake channel: per schema, so stores sharing a database do not wake each other
_PG_CHANNEL_SQL = "left('bastion.' || :c || '.' || current_schema(), 63)"


def hub_of(store) -> WakeHub | None:
    return store.sessions.kw.get("info", {}).get(_INFO_KEY)


class _WakeThread:
    """A daemon thread that watches the store for other writers' commits and fires the hub (the shared part of
    :class:`Listener` and :class:`SqliteWatcher`; each subclass gives ``_run`` and its thread's name)."""

    thread_name = "bastion-wake"

    def __init__(self, store, hub: WakeHub, *, check_seconds: float = 1.0):
        self.store = store
        self.hub = hub
        self.check_seconds = check_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        raise NotImplementedError


class Listener(_WakeThread):
    """One dedicated PostgreSQL connection per process that LISTENs on the wake channels and fires the hub.
    Reconnects with backoff when the connection drops (and wakes every loop on reconnect, since
    notifications sent meanwhile are lost); while it is down the loops fall back to fast polling."""

    thread_name = "bastion-listen"

    def __init__(self, store, hub: WakeHub, *, check_seconds: float = 1.0):
        super().__init__(store, hub, check_seconds=check_seconds)
        self.connects = 0

    def _connect(self):
        raw = self.store.engine.raw_connection()
        conn = raw.driver_connection
        raw.detach()  # ours for good: never returned to the pool
        conn.rollback()  # a pool pre-ping may have opened a transaction
        conn.autocommit = True
        names: dict[str, str] = {}
        for c in CHANNELS:
            name = conn.execute("SELECT " + _PG_CHANNEL_SQL.replace(":c", "%s"), (c,)).fetchone()[0]
            conn.execute('LISTEN "' + name.replace('"', '""') + '"')
            names[name] = c
        return conn, names

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            conn = None
            try:
                conn, names = self._connect()
                self.connects += 1
                self.hub.listening = True
                backoff = 0.5
                self.hub.fire_all()  # anything committed while we were not listening
                while not self._stop.is_set():
                    for n in conn.notifies(timeout=self.check_seconds):
                        c = names.get(n.channel)
                        if c is not None:
                            self.hub.fire(c)
            except Exception as exc:  # noqa: BLE001 - the database went away: poll until it is back
                if not self._stop.is_set():
                    from bastion.masking import mask_secrets

                    log.warning("PostgreSQL LISTEN connection lost (%s: %s); polling until it is back",
                                type(exc).__name__, mask_secrets(str(exc))[:300])
            finally:
                self.hub.listening = False
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 30.0)



class SqliteWatcher(_WakeThread):
    """Reads ``PRAGMA data_version`` on a connection of its own every ``check_seconds`` and wakes every loop
    when another connection (this process's writers, or another process) committed since the last read."""

    thread_name = "bastion-watch"

    def __init__(self, store, hub: WakeHub, *, check_seconds: float = 1.0):
        super().__init__(store, hub, check_seconds=check_seconds)
        self.changes = 0

    def _run(self) -> None:
        raw = None
        try:
            raw = self.store.engine.raw_connection()
            raw.detach()  # ours for good: never returned to the pool
            last = None
            self.hub.listening = True
            while not self._stop.is_set():
                cur = raw.cursor()
                cur.execute("PRAGMA data_version")
                version = cur.fetchone()[0]
                cur.close()
                if last is not None and version != last:
                    self.changes += 1
                    self.hub.fire_all()
                last = version
                self._stop.wait(self.check_seconds)
        except Exception as exc:  # noqa: BLE001 - the loops fall back to polling
            log.warning("SQLite change watcher stopped (%s: %s); polling instead", type(exc).__name__, str(exc)[:300])
        finally:
            self.hub.listening = False
            if raw is not None:
                try:
                    raw.close()
                except Exception:  # noqa: BLE001
                    pass


def start_watcher(store, hub: WakeHub | None, *, check_seconds: float = 1.0):
    """The watcher that lets this process's loops sleep: a PostgreSQL LISTEN connection, or a SQLite
    data_version reader for a database file. None for an in-memory SQLite database (one process only: the
    in-process wake-ups see every writer) or another database (the loops poll)."""
    if hub is None:
        return None
    dialect = store.engine.dialect.name
    if dialect == "postgresql":
        return Listener(store, hub, check_seconds=check_seconds).start()
    if dialect == "sqlite":
        database = store.engine.url.database
        if not database or database == ":memory:" or "mode=memory" in str(store.engine.url):
            return None
        return SqliteWatcher(store, hub, check_seconds=check_seconds).start()
    return None
