"""Fetching media from a URL without letting the URL reach into our own network (SSRF).

Off by default. When a platform turns it on, a URL is fetched only when all of these hold, on every hop:

- the scheme is ``https`` or ``http`` (and a redirect never goes from https down to http);
- the host is on the allow-list (exact names, or ``*.example.org`` for any name *below* example.org), the
  URL carries no user-info and, unless configured otherwise, the port is 80 or 443;
- the host name is resolved ONCE and every address it resolves to is public: loopback, private, link-local,
  multicast, reserved, unspecified, carrier-grade NAT (100.64/10), IPv6 forms embedding such an IPv4 address
  (IPv4-mapped, NAT64, 6to4, Teredo) and cloud metadata addresses are refused;
- the connection goes to the address that was checked (the socket is opened to that IP; the Host header
  and the TLS SNI/certificate check still use the name), so a DNS answer that changes between the check and
  the connection (rebinding) cannot slip a private address in;
- redirects are followed by hand, at most ``max_redirects`` of them, each hop checked like the first;
- the answer is ``200`` with a content type on the list (``image/*`` and ``video/*`` by default), no bigger
  than ``max_bytes`` (a declared Content-Length over the limit is refused before reading, and the body is
  streamed and cut off at the limit), all within ``timeout`` seconds in total.

Refusals raise :class:`bastion.errors.UrlRefused` (with a ``reason`` word), network and HTTP failures
:class:`bastion.errors.UrlFetchFailed`. The clock and the resolver are injectable so tests need no real DNS
and no sleeping.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence
from urllib.parse import urljoin, urlsplit

from bastion.errors import ConfigError, UrlFetchFailed, UrlRefused

if TYPE_CHECKING:
    from bastion.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Instance-metadata endpoints of the big clouds. 169.254.169.254 and fd00:ec2::254 are also link-local or
#: private; Alibaba's 100.100.100.200 is carrier-grade NAT space and Azure's wire server 168.63.129.16 is a
#: public address, so they are listed by name and refused even when an override would allow their network.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
CARRIER_GRADE_NAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_CONTENT_TYPES = ("image/*", "video/*")
USER_AGENT = "Bastion-MediaFetch/0.1"


def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be connected to (a short reason word), or None when it is a public address."""
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and ip.sixtofour is not None:
            embedded = ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None:
            inner = address_refusal(embedded)
            if inner is not None:
                return inner
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CARRIER_GRADE_NAT:
        return "carrier-grade-nat"
    if ip.is_private:
        return "private"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "not-global"
    return None


def _normalise_pattern(pattern: str) -> str:
    p = pattern.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(p.strip("[]")))  # an address literal (still checked like any address)
    except ValueError:
        pass
    if not p or p == "*" or "*" in p[1:] or (p.startswith("*") and not p.startswith("*.")) or p == "*.":
        raise ConfigError(f"invalid allow-list entry {pattern!r}: use an exact host or '*.suffix'")
    if any(c in p for c in "/:@ %?#"):
        raise ConfigError(f"invalid allow-list entry {pattern!r}: a host name only, no scheme, port or path")
    return p


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """``host`` (lower case, no trailing dot) equals an exact entry or lies below a ``*.suffix`` entry.
    ``*.example.org`` allows ``a.example.org`` and ``a.b.example.org``, not ``example.org`` itself."""
    for p in patterns:
        if p.startswith("*."):
            suffix = p[1:]
            if host.endswith(suffix) and len(host) > len(suffix):
                return True
        elif host == p:
            return True
    return False


def content_type_allowed(content_type: str, patterns: Iterable[str]) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    if "/" not in mime:
        return False
    major = mime.split("/", 1)[0]
    for p in patterns:
        p = p.strip().lower()
        if p == mime or (p.endswith("/*") and p[:-2] == major):
            return True
    return False


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched. ``enabled=False`` (the default) refuses every URL."""

    enabled: bool = False
    allowed_hosts: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ("https", "http")
    #: None allows any port; by default only the standard ports.
    allowed_ports: tuple[int, ...] | None = (80, 443)
    max_bytes: int = 50 * 1024 * 1024
    #: total seconds for the whole fetch, redirects included.
    timeout: float = 20.0
    connect_timeout: float = 5.0
    max_redirects: int = 3
    content_types: tuple[str, ...] = DEFAULT_CONTENT_TYPES
    #: TEST-ONLY override: networks (CIDR strings) whose addresses are let through although not public,
    #: so tests can fetch from a server on 127.0.0.1. Metadata addresses stay refused. Never set in production;
    #: it is not read from the environment.
    unsafe_allow_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_hosts", tuple(_normalise_pattern(h) for h in self.allowed_hosts))
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))
        bad = [s for s in self.schemes if s not in ("http", "https")]
        if bad:
            raise ConfigError(f"unsupported URL scheme(s) {bad}: only http and https")
        if self.max_bytes <= 0 or self.timeout <= 0 or self.connect_timeout <= 0 or self.max_redirects < 0:
            raise ConfigError("URL fetch limits must be positive")
        try:
            nets = tuple(ipaddress.ip_network(n, strict=False) for n in self.unsafe_allow_networks)
        except ValueError as exc:
            raise ConfigError(f"invalid network in unsafe_allow_networks: {exc}") from None
        object.__setattr__(self, "_unsafe_nets", nets)

    @classmethod
    def from_settings(cls, settings: "Settings") -> "FetchPolicy":
        """Fetching on when ``url_media_hosts`` lists hosts (``BASTION_URL_MEDIA_HOSTS``), with the limits
        ``url_media_max_bytes`` and ``url_media_timeout`` (see ``docs/configuration.md``)."""
        return cls(enabled=bool(settings.url_media_hosts), allowed_hosts=settings.url_media_hosts,
                   max_bytes=settings.url_media_max_bytes, timeout=settings.url_media_timeout)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "FetchPolicy":
        """:meth:`from_settings` of the settings ``environ`` (default: the process environment) gives."""
        from bastion.config import Settings

        return cls.from_settings(Settings.from_env(environ))

    def address_refusal(self, ip: IPAddress) -> str | None:
        reason = address_refusal(ip)
        if reason is None or reason == "metadata":
            return reason
        if any(ip in net for net in self._unsafe_nets):  # type: ignore[attr-defined]
            return None
        return reason


@dataclass(frozen=True)
class FetchedMedia:
    url: str
    final_url: str
    ip: str
    content_type: str
    data: bytes
    redirects: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        name = urlsplit(self.final_url).path.rsplit("/", 1)[-1]
        return name or "media"


Resolver = Callable[[str, int], Sequence[str]]


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlFetchFailed(f"cannot resolve {host!r}: {exc}") from None
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def vet_addresses(host: str, port: int, refusal: Callable[[IPAddress], str | None],
                  resolver: Resolver = system_resolver) -> tuple[str, ...]:
    """The addresses ``host`` resolves to (once), every one checked by ``refusal``; one bad answer refuses the
    host (:class:`UrlRefused`): a name that resolves into our network is not trusted. Connect to these
    addresses, not to the name again (rebinding). Also used for webhook targets (bastion.effects.delivery)."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    raw = [str(literal)] if literal is not None else list(resolver(host, port))
    if not raw:
        raise UrlFetchFailed(f"{host!r} resolves to no address")
    vetted: list[str] = []
    for a in raw:
        try:
            ip = ipaddress.ip_address(a.split("%", 1)[0])
        except ValueError:
            raise UrlRefused(f"{host!r} resolved to an invalid address {a!r}", "invalid-address") from None
        reason = refusal(ip)
        if reason is not None:
            raise UrlRefused(f"{host!r} resolves to {ip} ({reason}): refused", reason)
        vetted.append(str(ip))
    return tuple(vetted)


def network_refusal(networks: Iterable[str]) -> Callable[[IPAddress], str | None]:
    """:func:`address_refusal`, except that addresses in ``networks`` (CIDR strings: an operator's explicit
    choice) are let through. Metadata addresses stay refused whatever the networks."""
    try:
        nets = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip())
    except ValueError as exc:
        raise ConfigError(f"invalid network {exc}") from None

    def refusal(ip: IPAddress) -> str | None:
        reason = address_refusal(ip)
        if reason is None or reason == "metadata":
            return reason
        return None if any(ip in net for net in nets) else reason

    return refusal


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Talks HTTP to ``host`` (Host header) over a socket opened to the vetted ``ip``."""

    def __init__(self, host: str, port: int, ip: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._create_connection = lambda address, timeout, source=None: socket.create_connection(
            (ip, address[1]), timeout, source
        )


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the vetted ``ip``; SNI and certificate checking use ``host``."""

    def __init__(self, host: str, port: int, ip: str, timeout: float, context: ssl.SSLContext | None = None):
        super().__init__(host, port, timeout=timeout, context=context)
        self._create_connection = lambda address, timeout, source=None: socket.create_connection(
            (ip, address[1]), timeout, source
        )


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str
    host_header: str
    ips: tuple[str, ...]


@dataclass
class UrlFetcher:
    policy: FetchPolicy
    resolver: Resolver = system_resolver
    clock: Callable[[], float] = time.monotonic
    ssl_context: ssl.SSLContext | None = None
    chunk_size: int = 64 * 1024
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)

    # --- checks ------------------------------------------------------------------------------------

    def check_url(self, url: str, *, previous_scheme: str | None = None) -> _Target:
        """Everything that can be decided before connecting: scheme, user-info, host, port, allow-list, and
        the addresses the host resolves to. Returns the target with the vetted addresses."""
        p = self.policy
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise UrlRefused(f"invalid URL {url!r}: {exc}", "invalid-url") from None
        scheme = parts.scheme.lower()
        if scheme not in p.schemes:
            raise UrlRefused(f"URL scheme {scheme or '(none)'!r} is not allowed (only {', '.join(p.schemes)})",
                             "scheme")
        if previous_scheme == "https" and scheme == "http":
            raise UrlRefused(f"redirect from https down to http refused: {url}", "downgrade")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise UrlRefused("URLs with user-info ('user@host') are refused", "userinfo")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise UrlRefused(f"URL has no host: {url!r}", "invalid-url")
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise UrlRefused(f"invalid host name {host!r}", "invalid-url") from None
        if any(c in host for c in "%\\ "):
            raise UrlRefused(f"invalid host name {host!r}", "invalid-url")
        port = port or (443 if scheme == "https" else 80)
        if p.allowed_ports is not None and port not in p.allowed_ports:
            raise UrlRefused(f"port {port} is not allowed", "port")
        if not host_allowed(host, p.allowed_hosts):
            raise UrlRefused(f"host {host!r} is not on the URL media allow-list", "host")
        ips = self._vet_addresses(host, port)
        is_ipv6_literal = ":" in host
        bracketed = f"[{host}]" if is_ipv6_literal else host
        default_port = 443 if scheme == "https" else 80
        host_header = bracketed if port == default_port else f"{bracketed}:{port}"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return _Target(url, scheme, host, port, path, host_header, ips)

    def _vet_addresses(self, host: str, port: int) -> tuple[str, ...]:
        return vet_addresses(host, port, self.policy.address_refusal, self.resolver)

    # --- fetching ----------------------------------------------------------------------------------

    def _remaining(self, deadline: float) -> float:
        left = deadline - self.clock()
        if left <= 0:
            raise UrlFetchFailed(f"fetch took longer than {self.policy.timeout:g} s")
        return left

    def _tls(self) -> ssl.SSLContext:
        if self.ssl_context is not None:
            return self.ssl_context
        if self._context is None:
            self._context = ssl.create_default_context()
        return self._context

    def _connect(self, t: _Target, deadline: float) -> http.client.HTTPConnection:
        last: Exception | None = None
        for ip in t.ips:
            timeout = min(self.policy.connect_timeout, self._remaining(deadline))
            if t.scheme == "https":
                conn: http.client.HTTPConnection = PinnedHTTPSConnection(t.host, t.port, ip, timeout, self._tls())
            else:
                conn = PinnedHTTPConnection(t.host, t.port, ip, timeout)
            try:
                conn.connect()
                conn.vetted_ip = ip  # type: ignore[attr-defined]
                # http.client drops conn.sock once a "Connection: close" response starts; the body is still read
                # from this socket, whose timeout is shortened to the time left before each read.
                conn.pinned_sock = conn.sock  # type: ignore[attr-defined]
                return conn
            except (OSError, ssl.SSLError) as exc:
                conn.close()
                last = exc
        raise UrlFetchFailed(f"cannot connect to {t.host}:{t.port}: {last}")

    def fetch(self, url: str) -> FetchedMedia:
        p = self.policy
        if not p.enabled:
            raise UrlRefused("fetching media from URLs is disabled", "disabled")
        deadline = self.clock() + p.timeout
        current, previous_scheme, hops = url, None, []
        for _ in range(p.max_redirects + 1):
            t = self.check_url(current, previous_scheme=previous_scheme)
            conn = self._connect(t, deadline)
            try:
                try:
                    conn.pinned_sock.settimeout(self._remaining(deadline))  # type: ignore[attr-defined]
                    conn.putrequest("GET", t.path, skip_host=True, skip_accept_encoding=True)
                    conn.putheader("Host", t.host_header)
                    conn.putheader("User-Agent", USER_AGENT)
                    conn.putheader("Accept", ", ".join(p.content_types))
                    conn.putheader("Accept-Encoding", "identity")
                    conn.putheader("Connection", "close")
                    conn.endheaders()
                    resp = conn.getresponse()
                except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                    raise UrlFetchFailed(f"fetching {t.url} failed: {exc or type(exc).__name__}") from None
                if resp.status in REDIRECT_STATUSES:
                    location = resp.getheader("Location")
                    if not location:
                        raise UrlFetchFailed(f"HTTP {resp.status} without a Location from {t.url}")
                    hops.append(current)
                    previous_scheme, current = t.scheme, urljoin(current, location.strip())
                    continue
                if resp.status != 200:
                    raise UrlFetchFailed(f"HTTP {resp.status} {resp.reason} from {t.url}")
                return self._read_body(url, t, conn, resp, deadline, tuple(hops))
            finally:
                conn.close()
        raise UrlRefused(f"more than {p.max_redirects} redirects from {url}", "redirects")

    def _read_body(self, url: str, t: _Target, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse,
                   deadline: float, hops: tuple[str, ...]) -> FetchedMedia:
        p = self.policy
        ctype = resp.getheader("Content-Type") or ""
        if not content_type_allowed(ctype, p.content_types):
            raise UrlRefused(f"content type {ctype or '(none)'!r} is not allowed from {t.url}", "content-type")
        declared = resp.getheader("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > p.max_bytes:
            raise UrlRefused(f"{t.url} declares {int(declared)} bytes, over the {p.max_bytes}-byte limit", "too-large")
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                conn.pinned_sock.settimeout(self._remaining(deadline))  # type: ignore[attr-defined]
                chunk = resp.read1(self.chunk_size)
                if not chunk:
                    break
                size += len(chunk)
                if size > p.max_bytes:
                    raise UrlRefused(f"{t.url} is larger than the {p.max_bytes}-byte limit", "too-large")
                chunks.append(chunk)
                self._remaining(deadline)
        except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
            raise UrlFetchFailed(f"reading {t.url} failed: {exc or type(exc).__name__}") from None
        return FetchedMedia(url=url, final_url=t.url, ip=conn.vetted_ip,  # type: ignore[attr-defined]
                            content_type=ctype.split(";", 1)[0].strip().lower(), data=b"".join(chunks),
                            redirects=hops)


def fetch_url(url: str, policy: FetchPolicy, **kwargs) -> FetchedMedia:
    """Fetch one media URL under ``policy`` (see the module docstring for every rule)."""
    return UrlFetcher(policy, **kwargs).fetch(url)


def fetch_media(url: str, *, allow_hosts: Iterable[str], **policy: object) -> bytes:
    """The service's entry point: fetch ``url`` with fetching enabled for ``allow_hosts`` (exact hosts and
    ``*.suffix``), any other FetchPolicy field (the limits: ``max_bytes``, ``timeout``, from the service's
    settings) by keyword. Returns the bytes."""
    return UrlFetcher(FetchPolicy(enabled=True, allowed_hosts=tuple(allow_hosts), **policy)).fetch(url).data
