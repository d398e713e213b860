"""Safe URL media fetch: every refusal, and real fetches from a loopback server (allowed only through the
explicit test-only ``unsafe_allow_networks`` override)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl

import pytest

from bastion.errors import ConfigError, UrlFetchFailed, UrlRefused
from bastion.effects.fetch import FetchPolicy, UrlFetcher, address_refusal, content_type_allowed, host_allowed

from .conftest import reply, start_server, stop_server

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # a benign byte pattern; only its type header matters here


class Resolver:
    """Scripted DNS: host -> list of answers (one list per call; the last repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]):
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        seq = self.answers[host]
        n = sum(1 for c in self.calls if c == host) - 1
        return seq[min(n, len(seq) - 1)]


def loopback_policy(**kw) -> FetchPolicy:
    base = dict(enabled=True, allowed_hosts=("media.test", "*.cdn.test"), allowed_ports=None,
                unsafe_allow_networks=("127.0.0.1/32",))
    base.update(kw)
    return FetchPolicy(**base)


def fetcher(policy: FetchPolicy, extra: dict[str, list[list[str]]] | None = None, **kw) -> UrlFetcher:
    answers = {"media.test": [["127.0.0.1"]], "a.cdn.test": [["127.0.0.1"]], "evil.test": [["10.0.0.7"]]}
    answers.update(extra or {})
    return UrlFetcher(policy, resolver=Resolver(answers), **kw)


# --- addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "carrier-grade-nat"),
        ("100.127.255.254", "carrier-grade-nat"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "metadata"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:a00:1::1", "private"),
    ],
)
def test_non_public_addresses_are_refused_with_their_reason(address, reason):
    assert address_refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["240.0.0.1", "255.255.255.255", "192.0.2.10", "2001:db8::1"])
def test_reserved_and_documentation_ranges_are_refused(address):
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111"])
def test_public_addresses_pass(address):
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_override_lets_only_its_network_through_and_never_metadata():
    p = FetchPolicy(unsafe_allow_networks=("127.0.0.1/32", "169.254.0.0/16"))
    assert p.address_refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert p.address_refusal(ipaddress.ip_address("127.0.0.2")) == "loopback"
    assert p.address_refusal(ipaddress.ip_address("169.254.169.254")) == "metadata"


# --- the URL itself ------------------------------------------------------------------------------


def test_allow_list_exact_and_suffix():
    pats = ("media.test", "*.cdn.test")
    assert host_allowed("media.test", pats)
    assert host_allowed("a.cdn.test", pats) and host_allowed("x.y.cdn.test", pats)
    assert not host_allowed("cdn.test", pats)          # *.suffix is below the suffix only
    assert not host_allowed("evilcdn.test", pats)
    assert not host_allowed("media.test.evil", pats)
    assert not host_allowed("sub.media.test", pats)


@pytest.mark.parametrize("bad", ["*", "*.", "a.*.test", "http://x.test", "x.test:80", "x.test/path", ""])
def test_bad_allow_list_entries_are_config_errors(bad):
    with pytest.raises(ConfigError):
        FetchPolicy(allowed_hosts=(bad,))


def test_disabled_by_default():
    with pytest.raises(UrlRefused) as e:
        UrlFetcher(FetchPolicy(allowed_hosts=("media.test",))).fetch("https://media.test/a.png")
    assert e.value.reason == "disabled"


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://media.test/a.png", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("gopher://media.test/", "scheme"),
        ("https://other.test/a.png", "host"),
        ("https://cdn.test/a.png", "host"),
        ("https://user:pw@media.test/a.png", "userinfo"),
        ("https://media.test@evil.test/a.png", "userinfo"),
        ("https://media.test:8443/a.png", "port"),
        ("https:///a.png", "invalid-url"),
        ("https://media.test:99999/a.png", "invalid-url"),
        ("https://evil.test/a.png", "host"),
    ],
)
def test_url_refusals(url, reason):
    f = fetcher(FetchPolicy(enabled=True, allowed_hosts=("media.test",)))
    with pytest.raises(UrlRefused) as e:
        f.fetch(url)
    assert e.value.reason == reason
    assert f.resolver.calls == []  # refused before any DNS lookup


@pytest.mark.parametrize(
    "answers, reason",
    [
        (["10.0.0.7"], "private"),
        (["127.0.0.1"], "loopback"),
        (["169.254.169.254"], "metadata"),
        (["::ffff:127.0.0.1"], "loopback"),
        (["fd00:ec2::254"], "metadata"),
        (["100.64.3.4"], "carrier-grade-nat"),
        (["93.184.216.34", "10.0.0.7"], "private"),  # one bad answer refuses the name
    ],
)
def test_allowed_name_resolving_to_a_non_public_address_is_refused(answers, reason):
    f = UrlFetcher(FetchPolicy(enabled=True, allowed_hosts=("media.test",)),
                   resolver=Resolver({"media.test": [answers]}))
    with pytest.raises(UrlRefused) as e:
        f.fetch("https://media.test/a.png")
    assert e.value.reason == reason


def test_public_answer_passes_the_checks_without_connecting():
    f = UrlFetcher(FetchPolicy(enabled=True, allowed_hosts=("media.test",)),
                   resolver=Resolver({"media.test": [["93.184.216.34"]]}))
    t = f.check_url("https://MEDIA.test./a.png?x=1")
    assert (t.host, t.port, t.path, t.ips, t.host_header) == ("media.test", 443, "/a.png?x=1", ("93.184.216.34",),
                                                               "media.test")


@pytest.mark.parametrize("literal", ["127.0.0.1", "2130706433", "0x7f.0.0.1", "localhost", "[::1]"])
def test_literal_and_odd_spellings_of_loopback_are_refused_with_the_system_resolver(literal):
    host = literal.strip("[]")
    f = UrlFetcher(FetchPolicy(enabled=True, allowed_hosts=(host,), allowed_ports=None))
    with pytest.raises((UrlRefused, UrlFetchFailed)) as e:
        f.fetch(f"http://{literal}/a.png")
    if isinstance(e.value, UrlRefused):
        assert e.value.reason == "loopback"


# --- real fetches from a loopback server -----------------------------------------------------------


@pytest.fixture
def server():
    s = start_server()
    s.routes["/a.png"] = reply(200, PNG, {"Content-Type": "image/png"})
    yield s
    stop_server(s)


def test_fetch_from_allowed_host_connects_to_the_vetted_ip(server):
    f = fetcher(loopback_policy())
    got = f.fetch(server.url("/a.png", host="media.test"))
    assert got.data == PNG and got.content_type == "image/png" and got.ip == "127.0.0.1"
    assert got.filename == "a.png"
    assert server.seen[-1].headers["host"] == f"media.test:{server.port}"
    assert server.seen[-1].headers["accept-encoding"] == "identity"


def test_dns_rebinding_cannot_switch_the_address_after_the_check(server):
    # First answer is the (test-allowed) loopback address, any later lookup would say 10.0.0.7: the fetch
    # resolves once and connects to what it checked.
    f = fetcher(loopback_policy(), {"media.test": [["127.0.0.1"], ["10.0.0.7"]]})
    assert f.fetch(server.url("/a.png", host="media.test")).data == PNG
    assert f.resolver.calls == ["media.test"]


def test_loopback_is_refused_without_the_override(server):
    f = fetcher(loopback_policy(unsafe_allow_networks=()))
    with pytest.raises(UrlRefused) as e:
        f.fetch(server.url("/a.png", host="media.test"))
    assert e.value.reason == "loopback"
    assert server.seen == []


def test_redirects_are_followed_and_each_hop_checked(server):
    server.routes["/r1"] = reply(302, b"", {"Location": "/r2"})
    server.routes["/r2"] = reply(301, b"", {"Location": f"http://a.cdn.test:{server.port}/a.png"})
    got = fetcher(loopback_policy()).fetch(server.url("/r1", host="media.test"))
    assert got.data == PNG and got.final_url.startswith("http://a.cdn.test:")
    assert len(got.redirects) == 2
    assert server.seen[-1].headers["host"] == f"a.cdn.test:{server.port}"


@pytest.mark.parametrize(
    "location, reason",
    [
        ("http://evil.test/a.png", "host"),                      # not on the allow-list
        ("http://127.0.0.2:{port}/a.png", "host"),              # an IP literal is not on the list either
        ("http://a.cdn.test:{port}/a.png", "private"),          # allowed name, private answer
        ("file:///etc/passwd", "scheme"),
    ],
)
def test_redirects_to_refused_places_are_refused(server, location, reason):
    server.routes["/r"] = reply(302, b"", {"Location": location.format(port=server.port)})
    f = fetcher(loopback_policy(), {"a.cdn.test": [["10.9.9.9"]]})
    with pytest.raises(UrlRefused) as e:
        f.fetch(server.url("/r", host="media.test"))
    assert e.value.reason == reason
    assert [s.path for s in server.seen] == ["/r"]


def test_redirect_to_metadata_is_refused_even_with_override(server):
    server.routes["/r"] = reply(302, b"", {"Location": "http://a.cdn.test/latest/meta-data/"})
    f = fetcher(loopback_policy(unsafe_allow_networks=("127.0.0.1/32", "169.254.0.0/16")),
                {"a.cdn.test": [["169.254.169.254"]]})
    with pytest.raises(UrlRefused) as e:
        f.fetch(server.url("/r", host="media.test"))
    assert e.value.reason == "metadata"


def test_redirect_hops_are_bounded(server):
    server.routes["/loop"] = reply(302, b"", {"Location": "/loop"})
    with pytest.raises(UrlRefused) as e:
        fetcher(loopback_policy(max_redirects=3)).fetch(server.url("/loop", host="media.test"))
    assert e.value.reason == "redirects"
    assert len(server.seen) == 4


def test_declared_size_over_the_limit_is_refused_before_reading(server):
    server.routes["/big"] = reply(200, b"\0" * 5000, {"Content-Type": "image/png"})
    with pytest.raises(UrlRefused) as e:
        fetcher(loopback_policy(max_bytes=4096)).fetch(server.url("/big", host="media.test"))
    assert e.value.reason == "too-large"


def test_undeclared_size_is_cut_off_while_streaming(server):
    def stream(h, _):
        h.send_response(200)
        h.send_header("Content-Type", "image/png")
        h.send_header("Connection", "close")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"\0" * 1024)
            h.wfile.flush()

    server.routes["/stream"] = stream
    with pytest.raises(UrlRefused) as e:
        fetcher(loopback_policy(max_bytes=10_000), chunk_size=1024).fetch(server.url("/stream", host="media.test"))
    assert e.value.reason == "too-large"
    # and the same body within a larger limit arrives whole
    got = fetcher(loopback_policy(max_bytes=200_000)).fetch(server.url("/stream", host="media.test"))
    assert len(got.data) == 100 * 1024


@pytest.mark.parametrize("ctype", ["text/html", "application/octet-stream", "", "imagex/png"])
def test_content_types_other_than_image_and_video_are_refused(server, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    server.routes["/x"] = reply(200, b"<html></html>", headers)
    with pytest.raises(UrlRefused) as e:
        fetcher(loopback_policy()).fetch(server.url("/x", host="media.test"))
    assert e.value.reason == "content-type"


def test_content_type_matching():
    assert content_type_allowed("image/png; charset=binary", ("image/*",))
    assert content_type_allowed("VIDEO/MP4", ("image/*", "video/*"))
    assert not content_type_allowed("text/plain", ("image/*",))
    assert content_type_allowed("application/pdf", ("application/pdf",))


def test_total_time_limit_with_an_injected_clock(server):
    def drip(h, _):
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Connection", "close")
        h.end_headers()
        for _ in range(200):
            h.wfile.write(b"\0" * 512)
            h.wfile.flush()

    server.routes["/drip"] = drip
    ticks = iter(range(0, 10_000))  # every look at the clock is one second later
    f = fetcher(loopback_policy(timeout=10), clock=lambda: float(next(ticks)), chunk_size=512)
    with pytest.raises(UrlFetchFailed, match="longer than 10 s"):
        f.fetch(server.url("/drip", host="media.test"))


def test_a_server_that_never_answers_times_out(server):
    server.routes["/hang"] = lambda h, _: server.release.wait(10)
    with pytest.raises(UrlFetchFailed):
        fetcher(loopback_policy(timeout=0.5)).fetch(server.url("/hang", host="media.test"))


def test_http_errors_and_connection_refused_are_fetch_failures(server):
    server.routes["/500"] = reply(500, b"oops", {"Content-Type": "image/png"})
    with pytest.raises(UrlFetchFailed, match="HTTP 500"):
        fetcher(loopback_policy()).fetch(server.url("/500", host="media.test"))
    port = server.port
    stop_server(server)
    with pytest.raises(UrlFetchFailed, match="cannot connect"):
        fetcher(loopback_policy()).fetch(f"http://media.test:{port}/a.png")


def test_from_env_is_off_unless_an_allow_list_is_set():
    assert FetchPolicy.from_env({}).enabled is False
    p = FetchPolicy.from_env({"BASTION_URL_MEDIA_HOSTS": "media.test, *.cdn.test", "BASTION_URL_MEDIA_MAX_BYTES": "10"})
    assert p.enabled and p.allowed_hosts == ("media.test", "*.cdn.test") and p.max_bytes == 10
    assert p.unsafe_allow_networks == ()
    with pytest.raises(ConfigError):
        FetchPolicy.from_env({"BASTION_URL_MEDIA_HOSTS": "x.test", "BASTION_URL_MEDIA_TIMEOUT": "soon"})


# --- HTTPS: connect to the vetted IP, SNI and certificate check by name ------------------------------


@pytest.fixture
def tls(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "media.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("media.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, server_name, ctx: sni.append(server_name)
    s = start_server(server_ctx)
    s.routes["/a.png"] = reply(200, PNG, {"Content-Type": "image/png"})
    client_ctx = ssl.create_default_context(cadata=cert_pem.decode())
    yield s, client_ctx, sni
    stop_server(s)


def test_https_pins_the_ip_and_keeps_sni_and_certificate_check_by_name(tls):
    s, client_ctx, sni = tls
    got = fetcher(loopback_policy(), ssl_context=client_ctx).fetch(s.url("/a.png", host="media.test"))
    assert got.data == PNG
    assert sni == ["media.test"]
    assert s.seen[-1].headers["host"] == f"media.test:{s.port}"


def test_https_certificate_for_another_name_fails(tls):
    s, client_ctx, _ = tls
    f = fetcher(loopback_policy(), ssl_context=client_ctx)  # a.cdn.test -> same server, wrong certificate name
    with pytest.raises(UrlFetchFailed):
        f.fetch(s.url("/a.png", host="a.cdn.test"))


def test_https_to_http_downgrade_on_redirect_is_refused(tls):
    s, client_ctx, _ = tls
    s.routes["/r"] = reply(302, b"", {"Location": "http://media.test/a.png"})
    with pytest.raises(UrlRefused) as e:
        fetcher(loopback_policy(), ssl_context=client_ctx).fetch(s.url("/r", host="media.test"))
    assert e.value.reason == "downgrade"


def test_fetch_media_entry_point_refuses_non_public_addresses_and_unlisted_hosts():
    from bastion.effects.fetch import fetch_media

    with pytest.raises(UrlRefused) as e:
        fetch_media("http://127.0.0.1/a.png", allow_hosts=["127.0.0.1"])
    assert e.value.reason == "loopback"
    with pytest.raises(UrlRefused) as e:
        fetch_media("https://localhost/a.png", allow_hosts=["localhost"])
    assert e.value.reason == "loopback"
    with pytest.raises(UrlRefused) as e:
        fetch_media("https://elsewhere.test/a.png", allow_hosts=["media.test"])
    assert e.value.reason == "host"
