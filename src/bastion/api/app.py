"""The app factory. Everything a request needs hangs off ``app.state`` (store, service, token cache); no
module-level globals, so tests start as many independent apps as they need."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from bastion.api.problems import Problem
from bastion.api.problems import install as install_problems
from bastion.api.settings import ServeSettings

log = logging.getLogger("bastion.api")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        d: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(), "logger": record.name,
                             "msg": record.getMessage()}
        for key in ("method", "path", "status", "ms", "item_id", "user"):
            if hasattr(record, key):
                d[key] = getattr(record, key)
        if record.exc_info:
            d["exc"] = self.formatException(record.exc_info)
        return json.dumps(d, ensure_ascii=False)


def configure_logging(json_logs: bool = True, level: int = logging.INFO) -> None:
    root = logging.getLogger("bastion")
    if any(getattr(h, "_bastion", False) for h in root.handlers):
        return
    h = logging.StreamHandler(sys.stderr)
    h._bastion = True  # type: ignore[attr-defined]
    h.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(h)
    root.setLevel(level)
    root.propagate = False


class BodyLimit:
    """Refuse bodies over the limit with 413 before reading them whole (Content-Length, or counted while
    streaming when the client sends none)."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    n = -1
                if n < 0 or n > self.limit:
                    return await _send_413(send, self.limit)
        seen = 0
        too_big = False

        async def limited_receive():
            nonlocal seen, too_big
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    too_big = True
                    raise _TooLarge(self.limit)
            return msg

        try:
            return await self.app(scope, limited_receive, send)
        except Exception:
            # The overflow may come back wrapped (a middleware reading the body in a task group raises an
            # ExceptionGroup): the flag says what happened, whatever the wrapping.
            if too_big:
                return await _send_413(send, self.limit)
            raise


class _TooLarge(Problem):
    """Raised from the body stream when a body sent without Content-Length (chunked) passes the limit: a problem
    (413), so every handler that reads the body answers 413, whichever error mapping it passes through."""

    def __init__(self, limit: int = 0):
        super().__init__(413, "Request too large", f"the request body is larger than {limit} bytes", "too-large")


async def _send_413(send, limit: int) -> None:
    body = json.dumps({"type": "https://bastion.invalid/problems/too-large", "title": "Request too large",
                       "status": 413, "detail": f"the request body is larger than {limit} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _classifiers(settings: ServeSettings) -> tuple[str, ...]:
    """The image classifiers the examine workers run, checked at start: a name that is unknown or a classifier
    that cannot load here (its extra not installed) stops the server rather than leave images unclassified."""
    if not settings.classifiers:
        return ()
    from bastion.classifiers import UnknownClassifier, check, forget, resolve
    from bastion.errors import ConfigError

    try:
        names = resolve(settings.classifiers)
    except UnknownClassifier as exc:
        raise ConfigError(f"BASTION_CLASSIFIERS: {exc}") from None
    problems = check(names)
    forget(names)  # loaded here only to check: the workers load their own
    if problems:
        raise ConfigError("BASTION_CLASSIFIERS: cannot run " + "; ".join(problems.values()))
    return names


class BastionApp(FastAPI):
    """The service's app: a JSON ``POST /v1/items`` takes the lean path of :mod:`bastion.api.fastpath` (the
    same steps and answers as the declared route, without the framework's per-request layers); every other
    request goes through FastAPI as declared."""

    async def __call__(self, scope, receive, send):
        from bastion.api import fastpath

        if scope["type"] == "http" and fastpath.takes(scope) and self.state.settings.item_fast_path:
            return await fastpath.handle(self, scope, receive, send)
        return await super().__call__(scope, receive, send)


def build_service(settings: ServeSettings):
    """The per-process service state: store (migrated), live matcher, policy, holding folder."""
    from bastion.banks.live import LiveMatcher
    from bastion.cases.holding import MediaHolding
    from bastion.cases.ingest import Service
    from bastion.policy import default_policy, load_policy
    from bastion.store.db import open_store

    classify = _classifiers(settings)  # before anything is opened: a bad setting stops here
    store = open_store(settings=settings)
    policy = load_policy(settings.policy_path) if settings.policy_path else default_policy()
    matcher = LiveMatcher(store, cache_dir=settings.home / "cache")
    fetch = None
    if settings.url_media_hosts:
        from bastion.effects.fetch import fetch_media

        hosts, fetch_limits = settings.url_media_hosts, {"max_bytes": settings.url_media_max_bytes,
                                                         "timeout": settings.url_media_timeout}

        def fetch(url: str) -> bytes:
            return fetch_media(url, allow_hosts=hosts, **fetch_limits)

    from bastion.examine import Examiner, Limits, WorkerPool
    from bastion.reports.flows import automated_removal_statement
    from bastion.terms.live import LiveLexicon

    limits = Limits(file_seconds=settings.examine_file_seconds, item_seconds=settings.examine_item_seconds,
                    memory_bytes=settings.examine_memory_bytes)
    # the workers load the classifiers when they start (pool.start() in the lifespan), not on the first picture
    pool = WorkerPool(settings.examine_workers, memory_bytes=limits.memory_bytes, classifiers=classify)
    examiner = Examiner(matcher, limits=limits, pool=pool, classify=classify, windows=bool(settings.similar_radius))
    from bastion.vault import Keyring, Vault

    keyring = Keyring.from_settings(settings)
    on_kept = None
    if keyring.active is not None:  # evidence keys configured: custody starts at intake
        on_kept = Vault.from_settings(settings).intake_hook()
    similar = None
    if settings.similar_radius:
        from bastion.cases.similar import ConfirmedIndex

        similar = ConfirmedIndex(store, radius=settings.similar_radius, layout_radius=settings.similar_layout_radius)
    return Service(store, matcher, policy, MediaHolding(settings.holding, keyring=keyring), fetch_url=fetch, examiner=examiner,
                   on_removed=automated_removal_statement(), on_kept=on_kept,
                   lexicon=LiveLexicon(store), similar=similar)


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings.from_env()
    configure_logging(settings.json_logs)
    from bastion.api import metrics
    from bastion.api.deps import TokenCache
    from bastion.api.routes import router

    service = build_service(settings)
    _audit_policy(service)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from bastion.store.checkpoint import start_checkpointer

        loops = None
        service.examiner.pool.start()  # the workers import the decoders while the server starts
        # SQLite: WAL checkpoints in a thread of their own, not in the writer's commits (store/checkpoint.py)
        checkpointer = start_checkpointer(service.store)
        if settings.background:
            loops = start_background(app)
        try:
            yield
        finally:
            if loops is not None:
                loops.close()
            service.writer.close()
            if checkpointer is not None:
                checkpointer.close()
            service.examiner.close()
            service.store.close()

    app = BastionApp(title="Bastion", version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
                     openapi_url=None)
    app.state.settings = settings
    app.state.service = service
    app.state.store = service.store
    app.state.tokens = TokenCache(service.store)
    app.state.metrics = metrics.Metrics()
    if service.examiner.pool is not None:
        app.state.metrics.watch_examine_pool(service.examiner.pool)
    install_problems(app)
    app.include_router(router)
    from bastion.api.routes_effects import router as effects_router

    app.include_router(effects_router)
    from bastion.api.routes_reports import router as reports_router

    app.include_router(reports_router)
    from bastion.api.routes_terms import router as terms_router

    app.include_router(terms_router)
    from bastion import console

    console.mount(app, app.state)

    app.add_middleware(metrics.Observe, metrics=app.state.metrics, log=log)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def settle_heap(service) -> None:
    """Move what start-up built out of the garbage collector's way (``bastion serve``'s processes).

    A full (generation 2) collection walks every tracked object, and the first one after start-up came
    within the first few thousand items: measured under wrk (32 connections, text items), one pause of
    ~1 s of wall time on a loaded machine (80 ms of CPU for the 160,000 objects of a fresh app) that held
    the GIL, so every request in flight waited for it; it was the p99 of a 10-second run. The lazily built
    parts of the item path (the text lexicon, the policy's and the analysis' first-use caches) are built
    first by scanning one placeholder item (nothing is stored), then :func:`gc.freeze` moves every object
    alive into the permanent generation, which collections skip. Objects made later are collected as
    before."""
    import gc

    from bastion.cases.schemas import ItemIn

    try:
        service.scan(ItemIn(id="bastion-warm-up", title="placeholder", body="placeholder", tags=["placeholder"]), [], None)
    except Exception:  # noqa: BLE001 - a warm-up only: the first real item meets any problem and reports it
        log.warning("warming the item path at start-up failed", exc_info=True)
    gc.collect()
    gc.freeze()


def _audit_policy(service) -> None:
    """Record in the audit log when a server starts with a policy other than the last one recorded."""
    from bastion.effects import audit

    version = getattr(service.policy, "version", "") or ""
    with service.store.session() as s, s.begin():
        last, _ = audit.list_entries(s, limit=1, action="policy.activate")
        if last and last[0].get("target_id") == version:
            return
        audit.append(s, "bastion serve", "policy.activate", "policy", version,
                     {"name": getattr(service.policy, "name", None), "path": str(getattr(service.policy, "source", "") or "")})


def start_background(app: FastAPI):
    """Start this process's background loops (see bastion.api.background): each says what it did, and waits
    for a wake-up (bastion.store.wake) or its poll period when there was nothing to do."""
    from bastion.api.background import Loops, Pass
    from bastion.cases import jobs, retro
    from bastion.effects.delivery import Deliverer, DeliveryPolicy
    from bastion.store.wake import start_watcher

    st = app.state
    svc = st.service
    s = st.settings
    hub = svc.store.wake
    metrics = getattr(st, "metrics", None)
    loops = Loops(hub, poll_seconds=s.poll_seconds, listen_poll_seconds=s.listen_poll_seconds,
                  on_run=metrics.background_run if metrics is not None else None)
    watcher = start_watcher(svc.store, hub, check_seconds=min(1.0, s.poll_seconds))
    if watcher is not None:
        loops.extra.append(watcher)
    deliverer = Deliverer(svc.store, DeliveryPolicy.from_settings(s))

    def deliver() -> Pass:
        report = deliverer.deliver_due()
        if report.claimed:
            return Pass(done=report.claimed)
        return Pass(done=0, due_in=deliverer.next_due_in())

    loops.every("index-sync", svc.matcher.refresh, channels=("bank_changes",))
    loops.every("retro-match", lambda: retro.run(svc.store, svc.policy).changes, channels=("bank_changes",))
    from bastion.terms import retro as terms_retro

    # the platform's terms: apply a lead's change in this process, then re-score the stored items it finds
    loops.every("lexicon-sync", svc.lexicon.refresh, channels=("term_changes",))
    loops.every("retro-text", lambda: terms_retro.run(svc.store, svc.policy, svc.lexicon).changes,
                channels=("term_changes",))
    if svc.similar is not None:
        from bastion.cases import similar_retro

        # a confirmed case: this process's similar-to-confirmed index, then recent items compared with its images
        loops.every("similar-index", svc.similar.refresh, channels=("decisions",))
        loops.every("similar-retro", lambda: similar_retro.run(svc.store, svc.policy, radius=svc.similar.radius,
                                                               days=s.similar_retro_days,
                                                               holding=svc.holding).decisions,
                    channels=("decisions",))
    loops.every("batch-jobs", lambda: jobs.work(svc, lease_seconds=s.job_lease_seconds), channels=("jobs",))
    loops.every("webhooks", deliver, channels=("outbox",))
    st.loops = loops
    return loops


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("bastion")
    except Exception:
        return "0"


def app_from_env() -> FastAPI:
    """uvicorn's factory for ``bastion serve``: each worker process builds its settings once, from the
    environment ``bastion serve`` prepared (:func:`bastion.config.export_for_workers`), and its app from them."""
    app = create_app(ServeSettings.from_env())
    settle_heap(app.state.service)  # a server process's heap, not a test's (tests build many apps)
    return app
