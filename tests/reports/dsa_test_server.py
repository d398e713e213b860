"""A loopback TEST server for DSA statements of reasons — not the Transparency Database, which cannot be
reached from here. It speaks the database's multiple-statements protocol: a bearer token, at most 100
statements a call, each checked by Bastion's validator (the database's rules), puids unique, the whole batch
refused with per-statement errors (``statement_<i>``) when any statement is refused."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bastion.reports.dsa.validator import statement_problems


class DsaTestServer:
    """A loopback TEST server taking ``{"statements": [...]}`` like the Transparency Database's multiple
    endpoint: bearer token, at most 100 a call, each validated, puid unique, all-or-nothing per batch."""

    def __init__(self, token="t0k"):
        self.token, self.store, self.calls, self.fail_next = token, {}, [], []
        srv = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status, payload = srv.handle(self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/v1/statements"

    def handle(self, headers, body):
        self.calls.append(body)
        if self.fail_next:
            return self.fail_next.pop(0), {}
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Unauthenticated."}
        statements = json.loads(body)["statements"]
        if len(statements) > 100:
            return 422, {"message": "too many"}
        errors = {}
        for i, st in enumerate(statements):
            e = {f: [m] for f, m in statement_problems(st)}
            if st.get("puid") in self.store:
                e.setdefault("puid", []).append("The identifier given is not unique within this platform.")
            if e:
                errors[f"statement_{i}"] = e
        if errors:
            return 422, {"errors": errors}
        for st in statements:
            self.store[st["puid"]] = st
        return 201, {"statements": statements}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
