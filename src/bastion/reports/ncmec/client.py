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


class OutcomeUnknown(NcmecError):
    """The request may have reached NCMEC and been acted on; repeating it could duplicate a report or file."""

    code = "ncmec-outcome-unknown"


@dataclass(frozen=True)
class Response:
    code: int
    description: str
    report_id: int | None = None
    file_id: str | None = None
    hash: str | None = None
    file_ids: tuple[str, ...] = ()


def parse_response(body: bytes) -> Response:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise NcmecError(f"unreadable answer from the CyberTipline API ({exc}): {body[:200]!r}") from None

    def text(name: str) -> str | None:
        e = root.find(name)
        return e.text.strip() if e is not None and e.text else None

    code_text = text("responseCode")
    if code_text is None:
        raise NcmecError(f"answer without responseCode: {body[:200]!r}")
    rid = text("reportId")
    files = tuple((e.text or "").strip() for e in root.findall("files/fileId"))
    return Response(
        code=int(code_text),
        description=text("responseDescription") or "",
        report_id=int(rid) if rid else None,
        file_id=text("fileId"),
        hash=text("hash"),
        file_ids=files,
    )


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
            raise NcmecError("submit succeeded without a reportId")
        return r.report_id

    def upload(self, report_id: int, filename: str, data: bytes) -> Response:
        r = self._call(
            "POST", "/upload", repeatable=False, data={"id": str(report_id)}, files={"file": (filename, data, "application/octet-stream")}
        )
        if not r.file_id:
            raise NcmecError("upload succeeded without a fileId")
        return r

    def fileinfo(self, details_xml: bytes) -> Response:
        return self._call("POST", "/fileinfo", repeatable=True, content=details_xml, headers={"Content-Type": "text/xml; charset=utf-8"})

    def finish(self, report_id: int) -> Response:
        return self._call("POST", "/finish", repeatable=True, data={"id": str(report_id)})

    def retract(self, report_id: int) -> Response:
        return self._call("POST", "/retract", repeatable=True, data={"id": str(report_id)})

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
            if resp.status_code in _ALWAYS_RETRY_STATUS or (repeatable and resp.status_code in _UNSURE_STATUS):
                last = NcmecError(f"{path}: HTTP {resp.status_code}", status=resp.status_code)
                continue
            if resp.status_code in _UNSURE_STATUS:
                raise OutcomeUnknown(f"{path}: HTTP {resp.status_code}; the request may have been acted on", status=resp.status_code)
            if resp.status_code == 401:
                raise NcmecError(f"{path}: HTTP 401: the CyberTipline credentials were refused", status=401)
            try:
                parsed = parse_response(resp.content)
            except NcmecError:
                if resp.status_code >= 400:
                    raise NcmecError(f"{path}: HTTP {resp.status_code}: {resp.text[:300]}", status=resp.status_code) from None
                raise
            if parsed.code != 0 or resp.status_code >= 400:
                raise NcmecError(
                    f"{path}: response code {parsed.code}: {parsed.description}", response_code=parsed.code, status=resp.status_code
                )
            return parsed
        assert last is not None
        raise last
