"""Prometheus metrics of one process (``prometheus-client``), on a registry of its own per app."""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("bastion_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("bastion_http_request_seconds", "HTTP request latency", ["method", "route"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.items = Counter("bastion_items_total", "Items scanned, by verdict action", ["action"], registry=self.registry)
        self.background = Counter("bastion_background_runs_total",
                                  "Runs of the background loops, by loop and result (work, idle, error)",
                                  ["loop", "result"], registry=self.registry)

    def background_run(self, loop: str, result: str) -> None:
        self.background.labels(loop, result).inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def watch_examine_pool(self, pool) -> None:
        """Expose an examine worker pool's counters (bastion.examine.WorkerPool), read when scraped."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        class _Pool:
            def collect(self):
                stopped = CounterMetricFamily("bastion_examine_workers_stopped",
                                              "Examine workers killed over their deadline or that died on a task",
                                              labels=["reason"])
                stopped.add_metric(["deadline"], pool.killed)
                stopped.add_metric(["crashed"], pool.crashed)
                yield stopped
                size = GaugeMetricFamily("bastion_examine_workers", "Examine worker processes of this server")
                size.add_metric([], pool.size)
                yield size

        self.registry.register(_Pool())

    def render(self) -> bytes:
        return generate_latest(self.registry)


class Observe:
    """ASGI middleware: every HTTP request's route, status and latency into :class:`Metrics`, and a log line
    for a 5xx. Plain ASGI (not Starlette's BaseHTTPMiddleware, which costs a task group and a stream copy
    per request: a tenth of a text item's time when measured)."""

    def __init__(self, app, metrics: Metrics, log: logging.Logger):
        self.app, self.metrics, self.log = app, metrics, log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def observed_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            seconds = time.perf_counter() - t0
            route = scope.get("route")
            self.metrics.observe(scope["method"], getattr(route, "path", "unmatched"), status, seconds)
            if status >= 500:
                self.log.warning("request failed", extra={"method": scope["method"], "path": scope.get("path", ""),
                                                          "status": status, "ms": round(seconds * 1000, 2)})
