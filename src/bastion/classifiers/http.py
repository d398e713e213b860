"""A connector for external image classifiers: one HTTP endpoint, a declared request and response mapping.

A platform with access to a commercial classifier (a hosted nudity or abuse model behind an API) plugs it in
here without code: Bastion POSTs each still image to the configured URL as a JSON body made from a template,
reads the named scores from the JSON answer at declared paths, and the result becomes a ``source:
classifier`` signal like any local classifier's (:mod:`bastion.classifiers.base`).

Configuration (``bastion.config.Settings``, ``docs/configuration.md``; registered as the classifier ``http``
through the ``bastion.classifiers`` entry point, so ``BASTION_CLASSIFIERS=local,http`` or
``bastion scan --classify=http``)::

    BASTION_CLASSIFIER_HTTP_URL=https://classifier.example/v1/score
    BASTION_CLASSIFIER_HTTP_MODEL=acme-safety          # which model answers (recorded with every score)
    BASTION_CLASSIFIER_HTTP_VERSION=2026-10            # its version
    BASTION_CLASSIFIER_HTTP_SECRET=...                 # sent as "<AUTH_HEADER>: <AUTH_SCHEME> <secret>"
    BASTION_CLASSIFIER_HTTP_AUTH_HEADER=Authorization  # default
    BASTION_CLASSIFIER_HTTP_AUTH_SCHEME=Bearer         # default; empty: the secret alone
    BASTION_CLASSIFIER_HTTP_BODY='{"image": {"base64": "{image_base64}"}, "w": "{width}"}'
    BASTION_CLASSIFIER_HTTP_SCORES='nudity=$.results[0].nsfw, violence=$.results[0].violence'

**Request**: the body template is JSON; a string value that is exactly a placeholder is replaced —
``{image_base64}`` (the original file's bytes when Bastion has them, else the decode as JPEG), ``{sha256}`` (of
those bytes), ``{width}``/``{height}`` (numbers), ``{format}``, ``{media_type}``. Nothing else is sent.
**Response**: JSON; each score is read at its path (``$``, ``.key``, ``[index]``, ``["key"]``) and must be a
finite number.

**Failure is never "clean".** Each attempt has a timeout (connect, send and each read); a connection error,
a timeout, HTTP 429 or 5xx is retried with exponential backoff (``retries`` times, within ``deadline``
seconds in all). When the answer still is not usable — or is an HTTP 4xx, which retrying will not fix, or a
JSON body without a declared score — the picture's classification is reported **unavailable** with the reason
(``ClassifierUnavailable``), so the file carries ``classifier-unavailable`` and a scan exits non-zero. After
``breaker_failures`` such failures in a row the circuit opens: for ``breaker_seconds`` no request is made and
every picture is reported unavailable at once; then one trial request decides (success closes it).

**The secret** is held as a ``SecretStr`` and put only in the request header: it is never logged, never in an
error message (any text that could echo it is scrubbed), and never in the classifier's ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from bastion.classifiers.base import NAME_RE, Classifier, ClassifierUnavailable, Picture

__all__ = ["HttpClassifier", "HttpConfig", "parse_path", "parse_scores", "read_path"]

log = logging.getLogger("bastion.classifiers.http")

PLACEHOLDERS = ("{image_base64}", "{sha256}", "{width}", "{height}", "{format}", "{media_type}")
DEFAULT_BODY = '{"image": "{image_base64}"}'
#: answers larger than this are refused (a classifier answers with a few numbers)
MAX_RESPONSE_BYTES = 1 << 20
_MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
                "bmp": "image/bmp", "tiff": "image/tiff", "heif": "image/heif", "avif": "image/avif"}


# --- the response mapping: a small JSON path ------------------------------------------------------------

_TOKEN = re.compile(r'\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


def parse_path(path: str) -> tuple[str | int, ...]:
    """``$.a.b[0]["c d"]`` -> ``("a", "b", 0, "c d")``. The leading ``$`` is optional (``a.b`` works)."""
    text = path.strip()
    if not text:
        raise ValueError("empty JSON path")
    if text.startswith("$"):
        text = text[1:]
    elif not text.startswith((".", "[")):
        text = "." + text
    out: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"JSON path {path!r}: cannot read {text[pos:]!r} (use .key, [index] or [\"key\"])")
        key, index, quoted = m.groups()
        out.append(key if key is not None else int(index) if index is not None else json.loads(f'"{quoted}"'))
        pos = m.end()
    return tuple(out)


def read_path(doc: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in a parsed JSON document; ``KeyError`` naming the step that is missing."""
    cur = doc
    for step in path:
        if isinstance(step, int):
            if not isinstance(cur, list) or step >= len(cur):
                raise KeyError(step)
            cur = cur[step]
        else:
            if not isinstance(cur, dict) or step not in cur:
                raise KeyError(step)
            cur = cur[step]
    return cur


def parse_scores(spec: str | Mapping[str, str]) -> dict[str, tuple[str, tuple[str | int, ...]]]:
    """``"nudity=$.a.b, violence=$.c"`` (or a mapping) -> {score name: (path as written, parsed path)}."""
    items = spec.items() if isinstance(spec, Mapping) else (
        part.split("=", 1) if "=" in part else (part, "") for part in spec.split(",") if part.strip())
    out: dict[str, tuple[str, tuple[str | int, ...]]] = {}
    for name, path in items:
        name = str(name).strip()
        if not NAME_RE.match(name):
            raise ValueError(f"score name {name!r} must be lower-case letters, digits, '-', '_' or '.'")
        if not str(path).strip():
            raise ValueError(f"score {name!r} has no JSON path (write name=$.path)")
        out[name] = (str(path).strip(), parse_path(str(path)))
    if not out:
        raise ValueError("no scores declared (write name=$.path, ...)")
    return out


def _check_template(body: str) -> Any:
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request body template is not JSON: {exc}") from None
    if "{image_base64}" not in json.dumps(doc):
        raise ValueError("the request body template does not send the image: put \"{image_base64}\" in it")
    return doc


def _fill(doc: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(doc, dict):
        return {k: _fill(v, values) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_fill(v, values) for v in doc]
    if isinstance(doc, str) and doc in values:
        return values[doc]
    return doc


# --- configuration -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpConfig:
    """One external classifier endpoint. ``secret`` is a pydantic ``SecretStr`` (or None: no auth header)."""

    url: str
    model: str
    version: str
    scores: Mapping[str, str]
    secret: Any = field(default=None, repr=False)
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    body: str = DEFAULT_BODY
    #: seconds per attempt for connecting, sending and each read
    timeout: float = 5.0
    #: further attempts after a failed one (connection error, timeout, 429, 5xx)
    retries: int = 2
    #: seconds before the first retry; doubles per retry, at most 2 s
    backoff: float = 0.2
    #: seconds all attempts for one picture may take together (no attempt starts after it)
    deadline: float = 20.0
    #: failures in a row that open the circuit, and seconds it stays open
    breaker_failures: int = 5
    breaker_seconds: float = 30.0

    def __repr__(self) -> str:  # the URL without its query or user info, never the secret
        return (f"HttpConfig(url={_public_url(self.url)!r}, model={self.model!r}, version={self.version!r}, "
                f"scores={self.scores!r}, secret={'***' if self.secret else None}, timeout={self.timeout}, "
                f"retries={self.retries}, deadline={self.deadline}, breaker_failures={self.breaker_failures}, "
                f"breaker_seconds={self.breaker_seconds})")

    @classmethod
    def from_settings(cls, settings) -> "HttpConfig":
        """From ``bastion.config.Settings``; a :class:`ClassifierUnavailable` saying which variable is missing."""
        missing = [var for var, value in (("BASTION_CLASSIFIER_HTTP_URL", settings.classifier_http_url),
                                          ("BASTION_CLASSIFIER_HTTP_MODEL", settings.classifier_http_model),
                                          ("BASTION_CLASSIFIER_HTTP_VERSION", settings.classifier_http_version),
                                          ("BASTION_CLASSIFIER_HTTP_SCORES", settings.classifier_http_scores))
                   if not value]
        if missing:
            raise ClassifierUnavailable(f"http: not configured: set {', '.join(missing)} (docs/classifiers.md)")
        return cls(url=settings.classifier_http_url, model=settings.classifier_http_model,
                   version=settings.classifier_http_version, scores=settings.classifier_http_scores,
                   secret=settings.classifier_http_secret, auth_header=settings.classifier_http_auth_header,
                   auth_scheme=settings.classifier_http_auth_scheme,
                   body=settings.classifier_http_body or DEFAULT_BODY, timeout=settings.classifier_http_timeout,
                   retries=settings.classifier_http_retries, backoff=settings.classifier_http_backoff,
                   deadline=settings.classifier_http_deadline,
                   breaker_failures=settings.classifier_http_breaker_failures,
                   breaker_seconds=settings.classifier_http_breaker_seconds)


def _public_url(url: str) -> str:
    """The URL as it may be shown: scheme, host, port and path; never a query or user info."""
    u = urlsplit(url)
    host = u.hostname or ""
    return f"{u.scheme}://{host}{':' + str(u.port) if u.port else ''}{u.path}"


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix."""


class HttpClassifier(Classifier):
    """The external classifier behind one HTTP endpoint (see the module's docstring)."""

    description = "an external classifier over HTTP (BASTION_CLASSIFIER_HTTP_*)"

    def __init__(self, config: HttpConfig | None = None, *, name: str = "http",
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.name = name
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._client = None
        self._lock = threading.Lock()
        self.model = config.model if config is not None else "http"
        self.version = config.version if config is not None else "unconfigured"
        self.scores = ()
        self._paths: dict[str, tuple[str, tuple[str | int, ...]]] = {}
        self._template: Any = None
        # the circuit breaker
        self.failures = 0  # in a row
        self.opened_at: float | None = None
        self.requests = 0  # HTTP requests made (attempts), for tests and metrics

    def __repr__(self) -> str:
        c = self._config
        where = _public_url(c.url) if c is not None else "unconfigured"
        return f"HttpClassifier(name={self.name!r}, url={where!r}, model={self.model!r}, version={self.version!r})"

    __str__ = __repr__

    # --- Classifier ------------------------------------------------------------------------------------

    def load(self) -> None:
        """Check the configuration (no request is made). Raises :class:`ClassifierUnavailable` naming what is
        wrong or missing."""
        if self._config is None:
            from bastion.config import Settings

            self._config = HttpConfig.from_settings(Settings.from_env())
        c = self._config
        try:
            u = urlsplit(c.url)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ValueError(f"the URL must be http(s)://host/..., got {_public_url(c.url)!r}")
            if not c.model or not c.version:
                raise ValueError("the model and its version must be named")
            self._paths = parse_scores(c.scores)
            self._template = _check_template(c.body)
            if c.timeout <= 0 or c.retries < 0 or c.backoff < 0 or c.deadline <= 0 or c.breaker_failures < 1:
                raise ValueError("timeout and deadline must be positive, retries and backoff not negative, "
                                 "breaker_failures at least 1")
        except ValueError as exc:
            raise ClassifierUnavailable(f"{self.name}: {self._scrub(str(exc))}") from None
        self.model, self.version = c.model, c.version
        self.scores = tuple(self._paths)

    def classify(self, picture: Picture) -> dict[str, float]:
        c = self._config
        if c is None or not self._paths:
            raise ClassifierUnavailable(f"{self.name}: not loaded")
        self._check_breaker()
        body = self._body(picture)
        start = self._clock()
        last = "no attempt was made"
        for attempt in range(c.retries + 1):
            if attempt:
                wait = min(2.0, c.backoff * (2 ** (attempt - 1)))
                if self._clock() - start + wait >= c.deadline:
                    last += f"; no retry within the {c.deadline:g} s deadline"
                    break
                self._sleep(wait)
            try:
                scores = self._attempt(body)
            except _Retry as exc:
                last = str(exc)
                continue
            except ClassifierUnavailable as exc:  # not worth retrying (4xx, an answer without the scores)
                self._failed(str(exc))
                raise
            self._succeeded()
            return scores
        why = f"{self.name}: {last} (after {attempt + 1} attempt(s))"
        self._failed(why)
        raise ClassifierUnavailable(why)

    # --- one request -----------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        c = self._config
        h = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "Bastion-Classifier/0.1"}
        secret = c.secret.get_secret_value() if hasattr(c.secret, "get_secret_value") else c.secret
        if secret:
            h[c.auth_header] = f"{c.auth_scheme} {secret}" if c.auth_scheme else str(secret)
        return h

    def _body(self, picture: Picture) -> bytes:
        data, fmt = picture.data, (picture.format or "").lower() or None
        if not data:  # no original bytes: the decode, as JPEG
            buf = io.BytesIO()
            picture.image.convert("RGB").save(buf, "JPEG", quality=90)
            data, fmt = buf.getvalue(), "jpeg"
        values = {"{image_base64}": base64.b64encode(data).decode("ascii"),
                  "{sha256}": hashlib.sha256(data).hexdigest(), "{width}": int(picture.width),
                  "{height}": int(picture.height), "{format}": fmt, "{media_type}": _MEDIA_TYPES.get(fmt or "", None)}
        return json.dumps(_fill(self._template, values), separators=(",", ":")).encode()

    def _http(self):
        import httpx

        with self._lock:
            if self._client is None:
                t = self._config.timeout
                self._client = httpx.Client(timeout=httpx.Timeout(t, connect=t, read=t, write=t, pool=t),
                                            follow_redirects=False, trust_env=False)
            return self._client

    def _attempt(self, body: bytes) -> dict[str, float]:
        import httpx

        c = self._config
        self.requests += 1
        try:
            with self._http().stream("POST", c.url, content=body, headers=self._headers()) as r:
                status = r.status_code
                raw = b""
                for chunk in r.iter_bytes():
                    raw += chunk
                    if len(raw) > MAX_RESPONSE_BYTES:
                        raise ClassifierUnavailable(f"{self.name}: the answer is larger than {MAX_RESPONSE_BYTES} bytes")
        except httpx.TimeoutException as exc:
            raise _Retry(f"no answer within {c.timeout:g} s ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise _Retry(self._scrub(f"request failed: {type(exc).__name__}: {exc}")) from None
        if status == 429 or status >= 500:
            raise _Retry(f"HTTP {status} from {_public_url(c.url)}")
        if status >= 300:
            hint = " (check the secret)" if status in (401, 403) else ""
            raise ClassifierUnavailable(f"{self.name}: HTTP {status} from {_public_url(c.url)}{hint}")
        try:
            doc = json.loads(raw)
        except ValueError:
            raise ClassifierUnavailable(f"{self.name}: the answer is not JSON") from None
        out: dict[str, float] = {}
        for name, (written, path) in self._paths.items():
            try:
                v = read_path(doc, path)
            except KeyError as exc:
                raise ClassifierUnavailable(f"{self.name}: the answer has no score {name!r} at {written} "
                                            f"(missing {exc.args[0]!r})") from None
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
                raise ClassifierUnavailable(f"{self.name}: score {name!r} at {written} is not a number")
            out[name] = float(v)
        return out

    # --- the circuit breaker ---------------------------------------------------------------------------

    def _check_breaker(self) -> None:
        c = self._config
        with self._lock:
            if self.opened_at is None:
                return
            left = c.breaker_seconds - (self._clock() - self.opened_at)
            if left > 0:
                raise ClassifierUnavailable(f"{self.name}: circuit open after {self.failures} failures in a row; "
                                            f"no request for another {left:.1f} s")
            # half-open: this request is the trial; a failure opens the circuit again at once
            self.opened_at = None
            self.failures = max(self.failures, c.breaker_failures - 1)

    def _failed(self, why: str) -> None:
        c = self._config
        with self._lock:
            self.failures += 1
            if self.failures >= c.breaker_failures and self.opened_at is None:
                self.opened_at = self._clock()
                log.warning("classifier %s: circuit open for %g s after %d failures in a row (last: %s)",
                            self.name, c.breaker_seconds, self.failures, self._scrub(why))

    def _succeeded(self) -> None:
        with self._lock:
            if self.failures >= (self._config.breaker_failures if self._config else 1):
                log.info("classifier %s: circuit closed", self.name)
            self.failures = 0
            self.opened_at = None

    def _scrub(self, text: str) -> str:
        """``text`` with the secret (and the URL's query and user info) replaced: what may be shown."""
        c = self._config
        if c is None:
            return text
        secret = c.secret.get_secret_value() if hasattr(c.secret, "get_secret_value") else c.secret
        if secret:
            text = text.replace(str(secret), "***")
        if c.url and c.url != _public_url(c.url):
            text = text.replace(c.url, _public_url(c.url))
        return text

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
