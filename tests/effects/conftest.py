"""A real HTTP server on 127.0.0.1 (http.server in a thread) whose behaviour each test scripts per path."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class LoopbackServer:
    httpd: ThreadingHTTPServer
    routes: dict[str, Callable] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    scheme: str = "http"

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


def _handler(server: LoopbackServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            server.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            route = server.routes.get(path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            route(self, body)

        do_GET = do_POST = _any

    return Handler


def start_server(ssl_context=None) -> LoopbackServer:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    server = LoopbackServer(httpd)
    httpd.RequestHandlerClass = _handler(server)
    if ssl_context is not None:
        httpd.socket = ssl_context.wrap_socket(httpd.socket, server_side=True)
        server.scheme = "https"
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def stop_server(server: LoopbackServer) -> None:
    server.release.set()
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def loopback():
    server = start_server()
    yield server
    stop_server(server)


def reply(status: int, body: bytes = b"", headers: dict | None = None):
    """A route answering ``status`` with ``body`` (Content-Length set unless given in ``headers``)."""

    def route(h: BaseHTTPRequestHandler, _body: bytes) -> None:
        h.send_response(status)
        hdrs = {"Content-Length": str(len(body)), **(headers or {})}
        for k, v in hdrs.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    return route
