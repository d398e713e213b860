"""A TEST server speaking the CyberTipline Reporting API's protocol on 127.0.0.1 — not NCMEC, and nothing
like it in what it does with a report (it keeps them in memory and forgets them).

It exists because NCMEC cannot be reached from where Bastion is developed and tested. It enforces what a
client can get wrong: basic authentication, every XML document valid against the CyberTipline schema (the
copy in tests/reports/data), and the order of calls (upload, fileinfo and finish only on an open report of
this reporter, fileinfo only for a file uploaded to that report, nothing after finish or retract). Faults are
injected per path to exercise the client's retries and the flow's recovery:

* ``fail_next[path]`` — HTTP statuses answered instead of handling the call (optionally with an XML body,
  ``fail_body[path]``);
* ``lose_answer[path]`` — the call is handled, then the connection is dropped before the answer (a lost
  answer: the report *was* finished, retracted, opened...);
* ``expire(report_id)`` — NCMEC deleted an unfinished report;
* ``damage_next_upload`` — the MD5 answered for the next upload is not the one of the bytes received.

Every answer carries a ``Request-ID`` header, as NCMEC's do.

Response codes are NCMEC's where NCMEC has one for the case (0 success, 4100 validation failed, 5001 no such
report, 5101 already retracted, 5102 already finished); the order-of-calls refusals NCMEC documents only to
account holders (no file, file not on this report, MD5 differs, files without fileinfo) use 4002-4005 here.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import xmlschema

XSD = Path(__file__).parent / "data" / "cyber_tipline.xsd"
_SCHEMA: list[xmlschema.XMLSchema] = []


def schema() -> xmlschema.XMLSchema:
    if not _SCHEMA:
        _SCHEMA.append(xmlschema.XMLSchema(str(XSD)))
    return _SCHEMA[0]


def xsd_errors(xml: bytes, root: str) -> list[str]:
    """Schema errors of ``xml`` whose root element must be ``root`` (empty list = valid)."""
    import xml.etree.ElementTree as ET

    try:
        doc = ET.fromstring(xml)
    except ET.ParseError as exc:
        return [f"not XML: {exc}"]
    if doc.tag != root:
        return [f"root element is <{doc.tag}>, expected <{root}>"]
    return [str(e.reason or e) for e in schema().iter_errors(doc)]


@dataclass
class TestReport:
    state: str = "open"  # open | finished | retracted
    xml: bytes = b""
    files: dict[str, dict] = field(default_factory=dict)


class NcmecTestServer:
    """``with NcmecTestServer() as server: server.url`` — a loopback server on a free port."""

    def __init__(self, username: str = "esp-user", password: str = "esp-pass"):
        self.username, self.password = username, password
        self.reports: dict[int, TestReport] = {}
        self.calls: list[str] = []
        self.fail_next: dict[str, list[int]] = {}
        self.fail_body: dict[str, bytes] = {}
        self.lose_answer: dict[str, int] = {}
        self.damage_next_upload = False
        self.request_ids: list[str] = []
        self.lock = threading.Lock()
        self._next_report = 9000
        self._next_file = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/ispws"

    def __enter__(self) -> "NcmecTestServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def count(self, path: str) -> int:
        return sum(1 for c in self.calls if c == path)

    # --- protocol ------------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, bytes]:
        with self.lock:
            self.calls.append(path)
            faults = self.fail_next.get(path)
            if faults:
                return faults.pop(0), self.fail_body.get(path, b"injected fault")
            expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            if headers.get("Authorization") != expected:
                return 401, b"unauthorized"
            if path == "/ispws/status" and method == "GET":
                return 200, _resp(0, "Server is up")
            if method != "POST":
                return 405, b""
            if path == "/ispws/submit":
                errors = xsd_errors(body, "report")
                if errors:
                    return 400, _resp(4100, "validation failed: " + "; ".join(errors[:3]))
                self._next_report += 1
                self.reports[self._next_report] = TestReport(xml=body)
                return 200, _resp(0, "Success", report_id=self._next_report)
            if path == "/ispws/upload":
                fields = _multipart(headers, body)
                report, err = self._open_report(fields.get("id", (b"", None))[0])
                if err:
                    return 400, err
                if "file" not in fields:
                    return 400, _resp(4002, "no file")
                data, filename = fields["file"]
                self._next_file += 1
                file_id = f"f{self._next_file:05d}"
                md5 = hashlib.md5(data).hexdigest()
                report.files[file_id] = {"md5": md5, "size": len(data), "filename": filename, "details": None}
                answered = md5
                if self.damage_next_upload:
                    self.damage_next_upload = False
                    answered = hashlib.md5(data + b"\0").hexdigest()
                return 200, _resp(0, "Success", report_id=int(fields["id"][0]), file_id=file_id, hash=answered)
            if path == "/ispws/fileinfo":
                errors = xsd_errors(body, "fileDetails")
                if errors:
                    return 400, _resp(4100, "validation failed: " + "; ".join(errors[:3]))
                import xml.etree.ElementTree as ET

                doc = ET.fromstring(body)
                report, err = self._open_report(doc.findtext("reportId", "").encode())
                if err:
                    return 400, err
                file_id = doc.findtext("fileId", "")
                if file_id not in report.files:
                    return 400, _resp(4003, f"file {file_id} was not uploaded to this report")
                md5s = [h.text for h in doc.findall("originalFileHash") if h.get("hashType") == "MD5"]
                if md5s and md5s[0] != report.files[file_id]["md5"]:
                    return 400, _resp(4004, "originalFileHash MD5 differs from the uploaded bytes")
                report.files[file_id]["details"] = body
                return 200, _resp(0, "Success", report_id=int(doc.findtext("reportId")))
            if path in ("/ispws/finish", "/ispws/retract"):
                fields = _form(headers, body)
                rid = fields.get("id", b"")
                report, err = self._open_report(rid)
                if err:
                    return 400, err
                if path.endswith("finish"):
                    undescribed = [f for f, d in report.files.items() if d["details"] is None]
                    if undescribed:
                        return 400, _resp(4005, f"files without fileinfo: {', '.join(undescribed)}")
                    report.state = "finished"
                    files = "".join(f"<fileId>{f}</fileId>" for f in report.files)
                    return 200, (
                        f"<?xml version='1.0' encoding='utf-8'?><reportDoneResponse><responseCode>0</responseCode>"
                        f"<reportId>{int(rid)}</reportId><files>{files}</files></reportDoneResponse>"
                    ).encode()
                report.state = "retracted"
                return 200, _resp(0, "Success", report_id=int(rid))
            return 404, b""

    def _open_report(self, rid: bytes) -> tuple[TestReport | None, bytes | None]:
        try:
            report = self.reports.get(int(rid))
        except ValueError:
            report = None
        if report is None:
            return None, _resp(5001, f"report {rid.decode(errors='replace')} does not exist")
        if report.state == "finished":
            return None, _resp(5102, f"report {int(rid)} has already been finished")
        if report.state == "retracted":
            return None, _resp(5101, f"report {int(rid)} has already been retracted")
        return report, None

    def expire(self, report_id: int) -> None:
        """What NCMEC does to a report not finished in time: it is gone."""
        with self.lock:
            del self.reports[report_id]

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, payload = server.handle(method, self.path, self.headers, body)
                with server.lock:
                    lose = server.lose_answer.get(self.path, 0)
                    if lose:
                        server.lose_answer[self.path] = lose - 1
                    server.request_ids.append(f"req-{len(server.request_ids) + 1:04d}")
                    request_id = server.request_ids[-1]
                if lose:  # handled, but the answer never arrives
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(status)
                self.send_header("Request-ID", request_id)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):  # noqa: N802
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler


def _resp(code: int, description: str, *, report_id: int | None = None, file_id: str | None = None, hash: str | None = None) -> bytes:
    parts = [f"<responseCode>{code}</responseCode>", f"<responseDescription>{escape(description)}</responseDescription>"]
    if report_id is not None:
        parts.append(f"<reportId>{report_id}</reportId>")
    if file_id is not None:
        parts.append(f"<fileId>{file_id}</fileId>")
    if hash is not None:
        parts.append(f"<hash>{hash}</hash>")
    return ("<?xml version='1.0' encoding='utf-8'?><reportResponse>" + "".join(parts) + "</reportResponse>").encode()


def _multipart(headers, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    ctype = headers.get("Content-Type", "")
    if not ctype.startswith("multipart/form-data"):
        return {k: (v, None) for k, v in _form(headers, body).items()}
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        out[name] = (part.get_payload(decode=True), part.get_filename())
    return out


def _form(headers, body: bytes) -> dict[str, bytes]:
    ctype = headers.get("Content-Type", "")
    if ctype.startswith("multipart/form-data"):
        return {k: v[0] for k, v in _multipart(headers, body).items()}
    return {k: v[0].encode() for k, v in parse_qs(body.decode()).items()}
