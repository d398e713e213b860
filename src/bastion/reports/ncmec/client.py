"""HTTP client of the CyberTipline Reporting API: ``/submit`` -> ``/upload`` -> ``/fileinfo`` -> ``/finish``,
and ``/retract``, with HTTP basic authentication against a configurable base URL (NCMEC's test environment
by default; see ``docs/reporting.md``).

Retries are chosen per step by what a retry could do wrong:

* a connection that was never made (nothing sent), ``429`` and ``503`` (the server said it did nothing) are
  retried for every step;
* a timeout or another ``5xx`` after the request went out is retried only for steps that are safe to repeat
  (``/fileinfo``, ``/finish``, ``/retract``, ``/status``). For ``/submit`` and ``/upload`` the outcome is
  unknown — a second call could create a second report or a second file — so the error is raised and the
  persisted state (:mod:`bastion.reports.ncmec.flow`) asks a person to check.

The clock of retries is injected (``sleep``) so tests never wait.
"""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable

import httpx

from bastion.errors import NcmecError

TEST_BASE_URL = "https://exttest.cybertip.org/ispws"
PRODUCTION_BASE_URL = "https://report.cybertip.org/ispws"

_ALWAYS_RETRY_STATUS = {429, 503}
_UNSURE_STATUS = {500, 502, 504}

# NCMEC's own response codes that the flow acts on (as NCMEC answers them, recorded by independent
# open-source CyberTipline clients; NCMEC's full list is in its API documentation, which needs an account).
CODE_OK = 0
#: the XML did not validate
CODE_VALIDATION_FAILED = 4100
#: no such report: NCMEC deletes a report that is not finished within a day of opening or an hour idle
CODE_REPORT_NOT_FOUND = 5001
CODE_ALREADY_RETRACTED = 5101
CODE_ALREADY_FINISHED = 5102


class OutcomeUnknown(NcmecError):
    """The request may have reached NCMEC and been acted on; repeating it could duplicate a report or file."""

    code = "ncmec-outcome-unknown"


class UnreadableAnswer(OutcomeUnknown):
    """NCMEC answered something that is not a CyberTipline response (not XML, no ``responseCode``, or a
    ``responseCode``/``reportId`` that is not a number): the call may or may not have been acted on."""

    code = "ncmec-unreadable-answer"


class ReportExpired(NcmecError):
    """NCMEC no longer knows the report (5001): it deletes reports that are not finished in time."""

    code = "ncmec-report-expired"


class UploadMismatch(NcmecError):
    """NCMEC's MD5 of an uploaded file differs from the bytes sent: the file arrived damaged."""

    code = "ncmec-upload-mismatch"

    def __init__(self, message: str, *, file_id: str | None = None, **kw):
        self.file_id = file_id
        super().__init__(message, **kw)


@dataclass(frozen=True)
class Response:
    code: int
    description: str
    report_id: int | None = None
    file_id: str | None = None
    hash: str | None = None
    file_ids: tuple[str, ...] = ()
    request_id: str | None = None


def _number(name: str, value: str | None, body: bytes) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise UnreadableAnswer(f"answer with a {name} that is not a number ({value[:40]!r}): {body[:200]!r}") from None


def parse_response(body: bytes, request_id: str | None = None) -> Response:
    """A CyberTipline answer; anything else raises :class:`UnreadableAnswer` (never a bare ``ValueError``)."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise UnreadableAnswer(f"unreadable answer from the CyberTipline API ({exc}): {body[:200]!r}", request_id=request_id) from None

    def text(name: str) -> str | None:
        e = root.find(name)
        return e.text.strip() if e is not None and e.text else None

    try:
        code = _number("responseCode", text("responseCode"), body)
        if code is None:
            raise UnreadableAnswer(f"answer without responseCode: {body[:200]!r}")
        rid = _number("reportId", text("reportId"), body)
    except UnreadableAnswer as exc:
        raise UnreadableAnswer(str(exc), request_id=request_id) from None
    files = tuple((e.text or "").strip() for e in root.findall("files/fileId"))
    return Response(
        code=code,
        description=text("responseDescription") or "",
        report_id=rid,
        file_id=text("fileId"),
        hash=text("hash"),
        file_ids=files,
        request_id=request_id,
    )


def _refusal(path: str, r: Response, status: int) -> NcmecError:
    """The typed error of an explicit non-zero answer."""
    cls = ReportExpired if r.code == CODE_REPORT_NOT_FOUND else NcmecError
    return cls(f"{path}: HTTP {status}, response code {r.code}: {r.description}", response_code=r.code, status=status,
               request_id=r.request_id, description=r.description)


class NcmecClient:
    def __init__(
        self,
        base_url: str = TEST_BASE_URL,
        username: str = "",
        password: str = "",
        *,
        timeout: float = 60.0,
        attempts: int = 4,
        backoff: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.sleep = sleep
        self._http = httpx.Client(auth=(username, password), timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "NcmecClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the API ------------------------------------------------------------------------------------

    def status(self) -> Response:
        return self._call("GET", "/status", repeatable=True)

    def submit(self, report_xml: bytes) -> int:
        r = self._call("POST", "/submit", repeatable=False, content=report_xml, headers={"Content-Type": "text/xml; charset=utf-8"})
        if r.report_id is None:
            raise UnreadableAnswer("submit succeeded without a reportId", request_id=r.request_id)
        return r.report_id

    def upload(self, report_id: int, filename: str, data: bytes) -> Response:
        """Upload one file; NCMEC's MD5 of what arrived is compared with the bytes sent."""
        r = self._call(
            "POST", "/upload", repeatable=False, data={"id": str(report_id)}, files={"file": (filename, data, "application/octet-stream")}
        )
        if not r.file_id:
            raise UnreadableAnswer("upload succeeded without a fileId", request_id=r.request_id)
        sent = hashlib.md5(data).hexdigest()
        if r.hash is not None and r.hash.strip().lower() != sent:
            raise UploadMismatch(
                f"/upload: NCMEC's MD5 of file {r.file_id} is {r.hash}, the bytes sent have {sent}: the file arrived damaged",
                file_id=r.file_id, request_id=r.request_id,
            )
        return r

    def fileinfo(self, details_xml: bytes) -> Response:
        return self._call("POST", "/fileinfo", repeatable=True, content=details_xml, headers={"Content-Type": "text/xml; charset=utf-8"})

    def finish(self, report_id: int) -> Response:
        """Finish a report. NCMEC's "already finished" (a retry after a lost answer) is the state reached:
        it comes back as a response with that code, not as an error."""
        try:
            return self._call("POST", "/finish", repeatable=True, data={"id": str(report_id)})
        except NcmecError as exc:
            if exc.response_code == CODE_ALREADY_FINISHED:
                return Response(CODE_ALREADY_FINISHED, exc.description or "already finished", report_id=report_id, request_id=exc.request_id)
            raise

    def retract(self, report_id: int) -> Response:
        """Retract a report; NCMEC's "already retracted" is the state reached, as for :meth:`finish`."""
        try:
            return self._call("POST", "/retract", repeatable=True, data={"id": str(report_id)})
        except NcmecError as exc:
            if exc.response_code == CODE_ALREADY_RETRACTED:
                return Response(CODE_ALREADY_RETRACTED, exc.description or "already retracted", report_id=report_id, request_id=exc.request_id)
            raise

    # --- transport ----------------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, repeatable: bool, **kwargs) -> Response:
        url = self.base_url + path
        last: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.sleep(self.backoff * 2 ** (attempt - 2))
            try:
                resp = self._http.request(method, url, **kwargs)
            except httpx.ConnectError as exc:  # nothing reached the server
                last = NcmecError(f"{path}: cannot connect to {self.base_url}: {exc}")
                continue
            except httpx.TransportError as exc:  # timeouts and broken connections: it may have been acted on
                if repeatable:
                    last = NcmecError(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                raise OutcomeUnknown(f"{path}: {type(exc).__name__} after the request was sent; it may have been acted on") from None
            status, rid = resp.status_code, resp.headers.get("Request-ID")
            if status == 401:
                raise NcmecError(f"{path}: HTTP 401: the CyberTipline credentials were refused", status=401, request_id=rid)
            try:
                parsed: Response | None = parse_response(resp.content, rid)
                unreadable: NcmecError | None = None
            except UnreadableAnswer as exc:
                parsed, unreadable = None, exc
            if parsed is not None and parsed.code != CODE_OK:
                # an explicit answer, whatever the HTTP status: NCMEC says what it did not do
                err = _refusal(path, parsed, status)
                if status in _ALWAYS_RETRY_STATUS or (repeatable and status in _UNSURE_STATUS):
                    last = err
                    continue
                raise err
            if status in _ALWAYS_RETRY_STATUS or (repeatable and status in _UNSURE_STATUS):
                last = NcmecError(f"{path}: HTTP {status}: {resp.text[:200]}", status=status, request_id=rid)
                continue
            if status in _UNSURE_STATUS:
                raise OutcomeUnknown(f"{path}: HTTP {status}; the request may have been acted on: {resp.text[:200]}", status=status, request_id=rid)
            if status >= 400:
                raise NcmecError(f"{path}: HTTP {status}: {resp.text[:300]}", status=status, request_id=rid)
            if unreadable is not None:
                if repeatable:
                    last = unreadable
                    continue
                raise unreadable
            assert parsed is not None
            return parsed
        assert last is not None
        raise last
