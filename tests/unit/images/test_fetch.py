"""fetch_image: SSRF refusals before any connection, and a real local HTTPS server for everything that downloads."""

from __future__ import annotations

import http.server
import logging
import socket
import ssl
import struct
import subprocess
import threading
import time
import zlib
from pathlib import Path

import pytest

from imagegen.errors import ApiError
from imagegen.images.fetch import fetch_image, is_public

HOST = "images.test"


def png_bytes() -> bytes:
    """A valid 1x1 RGB PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
        + chunk(b"IEND", b"")
    )


PNG = png_bytes()
BIG_TOTAL = 32 * 1024 * 1024  # what /stream would serve if the client never stopped


@pytest.fixture
def connections(monkeypatch) -> list[tuple]:
    """Every address fetch_image opens a TCP connection to (the real connect still happens)."""
    calls: list[tuple] = []
    real = socket.create_connection

    def recording(address, *args, **kwargs):
        calls.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", recording)
    return calls


def never_resolve(host: str, port: int):
    raise AssertionError(f"resolve({host!r}) should not have been called")


# --- refusals: nothing is connected to -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com/a.png", "url_refused"),
        ("file:///etc/passwd", "url_refused"),
        ("ftp://example.com/a.png", "url_refused"),
        ("data:image/png;base64,iVBORw0KGgo=", "url_refused"),
        ("gopher://example.com/", "url_refused"),
        ("https://user:pw@example.com/a.png", "url_refused"),
        ("https:///a.png", "invalid_image_url"),
        ("https://example.com/a b.png", "invalid_image_url"),
        ("https://example.com/" + "a" * 2048, "invalid_image_url"),
        ("https://127.0.0.1/a.png", "url_refused"),
        ("https://[::1]/a.png", "url_refused"),
        ("https://169.254.169.254/latest/meta-data/", "url_refused"),
        ("https://10.0.0.1/a.png", "url_refused"),
        ("https://[::ffff:127.0.0.1]/", "url_refused"),
    ],
)
def test_refused_before_any_lookup_or_connection(url, code, connections):
    with pytest.raises(ApiError) as err:
        fetch_image(url, "image_url", resolve=never_resolve)
    assert (err.value.status, err.value.code, err.value.param) == (400, code, "image_url")
    assert err.value.message.startswith("image_url: ")
    assert connections == []


@pytest.mark.parametrize("url", ["https://2130706433/", "https://0x7f.1/", "https://localhost/a.png"])
def test_numeric_and_local_host_forms_resolve_to_loopback_and_are_refused(url, connections):
    # getaddrinfo turns decimal/hex forms into 127.0.0.1 (no network needed), and the result is checked.
    with pytest.raises(ApiError) as err:
        fetch_image(url, "image_url")
    assert (err.value.status, err.value.code) == (400, "url_refused")
    assert connections == []


def test_hostname_resolving_to_private_address_is_refused(connections):
    with pytest.raises(ApiError) as err:
        fetch_image("https://cdn.example.com/a.png", "image_url", resolve=lambda h, p: ["10.1.2.3"])
    assert err.value.code == "url_refused"
    assert connections == []


def test_hostname_resolving_to_public_and_private_addresses_is_refused(connections):
    answer = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.0.10", 443)),
    ]
    with pytest.raises(ApiError) as err:
        fetch_image("https://cdn.example.com/a.png", "image_url", resolve=lambda h, p: answer)
    assert err.value.code == "url_refused"
    assert connections == []


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "100.64.0.1",  # shared (carrier-grade NAT)
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "224.0.0.1",  # multicast (is_global says True)
        "240.0.0.1",
        "::",
        "fd00::1",
        "fe80::1",
        "fec0::1",  # site-local (is_global says True)
        "ff02::1",  # multicast (is_global says True)
        "::ffff:10.0.0.1",
        "::127.0.0.1",  # IPv4-compatible (is_global says True)
        "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1 (is_global says True)
        "2002:a9fe:a9fe::1",  # 6to4 wrapping 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1 (is_global says True)
    ],
)
def test_every_non_public_form_is_refused(address, connections):
    with pytest.raises(ApiError) as err:
        fetch_image("https://cdn.example.com/a.png", "image_url", resolve=lambda h, p: [address])
    assert err.value.code == "url_refused"
    assert connections == []


def test_allow_loopback_allows_only_loopback(connections):
    with pytest.raises(ApiError) as err:
        fetch_image("https://10.0.0.1/a.png", "image_url", allow_loopback=True)
    assert err.value.code == "url_refused"
    assert connections == []


def test_public_address_is_connected_to_exactly_as_checked(monkeypatch):
    calls = []

    def refuse(address, *args, **kwargs):
        calls.append(address)
        raise ConnectionRefusedError("no")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ApiError) as err:
        fetch_image("https://cdn.example.com:8443/a.png", "image_url", resolve=lambda h, p: ["93.184.216.34"])
    assert (err.value.status, err.value.code) == (422, "image_url_unreachable")
    assert calls == [("93.184.216.34", 8443)]


def test_is_public_accepts_global_unicast():
    import ipaddress

    assert is_public(ipaddress.ip_address("93.184.216.34"))
    assert is_public(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946"))
    assert not is_public(ipaddress.ip_address("::ffff:93.184.216.34"))  # mapped forms are never needed


# --- a real HTTPS server on 127.0.0.1 ---------------------------------------------------------------------


def openssl(command: str, cwd: Path) -> None:
    subprocess.run(["openssl", *command.split()], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    """A throwaway CA and a leaf certificate for images.test it signed."""
    try:
        subprocess.run(["openssl", "version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.fail("the openssl CLI is needed for the HTTPS tests (.ci/run installs it: apt-get install openssl)")
    d = tmp_path_factory.mktemp("certs")
    key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    ca_ext = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
    openssl(f"req -x509 {key} -keyout ca.key -out ca.pem -days 2 -subj /CN=fetch-test-CA {ca_ext}", cwd=d)
    openssl(f"req {key} -keyout leaf.key -out leaf.csr -subj /CN={HOST}", cwd=d)
    (d / "leaf.ext").write_text(
        f"subjectAltName=DNS:{HOST}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    openssl(
        "x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext", d
    )
    return d


class Handler(http.server.BaseHTTPRequestHandler):
    served: dict[str, int] = {}
    stream_done = threading.Event()

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        Handler.served["headers"] = dict(self.headers)
        if path == "/a.png":
            self.send(200, PNG, Content_Type="text/plain")  # the header lies; the magic bytes decide
        elif path == "/text":
            self.send(200, b"<html>not an image</html>", Content_Type="image/png")
        elif path == "/declared-big":
            self.send_response(200)
            self.send_header("Content-Length", str(10**9))
            self.end_headers()
            self.wfile.write(PNG)
        elif path == "/stream":
            self.stream()
        elif path == "/to-private":
            self.send(302, Location="https://10.0.0.1/x")
        elif path.startswith("/to-host/"):  # a redirect to this server under another name
            self.send(302, Location=f"https://{path.rsplit('/', 1)[1]}:{self.server.server_address[1]}/a.png")
        elif path == "/to-png":
            self.send(301, Location="/a.png")
        elif path.startswith("/loop/"):
            self.send(302, Location=f"/loop/{int(path.rsplit('/', 1)[1]) + 1}")
        else:
            self.send(404, b"not here")

    def stream(self) -> None:
        """A PNG that never ends (no Content-Length): counts what the client let us send."""
        self.send_response(200)
        self.end_headers()
        sent = 0
        try:
            self.wfile.write(PNG)
            while sent < BIG_TOTAL:
                self.wfile.write(b"\0" * 65536)
                sent += 65536
        except OSError:
            pass
        finally:
            Handler.served["stream"] = sent
            Handler.stream_done.set()


@pytest.fixture(scope="module")
def server(certs):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "leaf.pem", certs / "leaf.key")
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fetch(server, certs, connections):
    """fetch_image against the local server: images.test (and wrong.test) resolve to 127.0.0.1."""
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    names = {HOST: "127.0.0.1", "wrong.test": "127.0.0.1"}

    def resolve(host: str, port: int):
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "unknown test host")
        return [names[host]]

    def call(path: str, host: str = HOST, **kwargs):
        kwargs = {"resolve": resolve, "context": context, "allow_loopback": True, "timeout": 10.0, **kwargs}
        return fetch_image(f"https://{host}:{server}{path}", "image_url", **kwargs)

    return call


def test_png_is_fetched_and_typed_by_magic_bytes(fetch, server, connections):
    assert fetch("/a.png") == (PNG, "image/png")
    assert connections == [("127.0.0.1", server)]
    headers = Handler.served["headers"]
    assert headers["Host"] == f"{HOST}:{server}"
    assert headers["User-Agent"] == "imagegen-fetch/1"
    assert headers["Accept"] == "image/*"


def test_body_that_is_not_an_image_is_refused(fetch):
    with pytest.raises(ApiError) as err:
        fetch("/text")
    assert (err.value.status, err.value.code) == (400, "not_an_image")


def test_declared_content_length_over_the_limit_is_413(fetch):
    with pytest.raises(ApiError) as err:
        fetch("/declared-big", max_bytes=1000)
    assert (err.value.status, err.value.code) == (413, "image_too_large")


def test_streamed_body_over_the_limit_is_413_and_reading_stops_early(fetch):
    Handler.stream_done.clear()
    with pytest.raises(ApiError) as err:
        fetch("/stream", max_bytes=100_000)
    assert (err.value.status, err.value.code) == (413, "image_too_large")
    assert Handler.stream_done.wait(10)
    # What the server managed to write is bounded by socket buffers, far short of what it would have served.
    assert Handler.served["stream"] < BIG_TOTAL // 2


def test_redirect_to_private_address_is_refused_without_connecting(fetch, server, connections):
    with pytest.raises(ApiError) as err:
        fetch("/to-private")
    assert (err.value.status, err.value.code) == (400, "url_refused")
    assert connections == [("127.0.0.1", server)]


@pytest.mark.parametrize("target", ["localhost", "127.0.0.1", "loopback.test", "[::1]"])
def test_a_public_host_redirecting_to_loopback_is_refused_without_connecting(server, certs, monkeypatch, target):
    """The first hop is a public address (reached here through a tunnel to the local server); its
    redirect names this machine: refused before any connection to it, whatever name it goes by."""
    public = "93.184.216.34"
    names = {HOST: public, "loopback.test": "127.0.0.1", "localhost": "127.0.0.1"}
    opened = []
    real = socket.create_connection

    def tunnel(address, *args, **kwargs):
        opened.append(address)
        host, port = address[:2]
        if host != public:
            raise AssertionError(f"connected to {host}")
        return real(("127.0.0.1", port), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", tunnel)
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with pytest.raises(ApiError) as err:
        fetch_image(
            f"https://{HOST}:{server}/to-host/{target}",
            "image_url",
            resolve=lambda host, port: [names[host]],
            context=context,
        )
    assert (err.value.status, err.value.code) == (400, "url_refused")
    assert opened == [(public, server)]


def test_redirect_chain_longer_than_the_limit_is_refused(fetch, connections):
    with pytest.raises(ApiError) as err:
        fetch("/loop/0", max_redirects=3)
    assert (err.value.status, err.value.code) == (400, "url_refused")
    assert "too many redirects" in err.value.message
    assert len(connections) == 4  # the first request and three redirects followed


def test_redirect_on_the_same_host_is_followed(fetch, connections):
    assert fetch("/to-png") == (PNG, "image/png")
    assert len(connections) == 2


def test_remote_404_is_unreachable_and_the_query_is_never_logged(fetch, caplog):
    caplog.set_level(logging.INFO, logger="imagegen")
    with pytest.raises(ApiError) as err:
        fetch("/missing.png?token=s3cret")
    assert (err.value.status, err.value.code) == (422, "image_url_unreachable")
    assert "(HTTP 404)" in err.value.message
    assert f"https://{HOST}" in caplog.text
    assert "s3cret" not in caplog.text and "s3cret" not in err.value.message


def test_certificate_for_another_hostname_is_unreachable_not_a_crash(fetch):
    with pytest.raises(ApiError) as err:
        fetch("/a.png", host="wrong.test")
    assert (err.value.status, err.value.code) == (422, "image_url_unreachable")
    assert "certificate" in err.value.message


def test_unresolvable_host_is_unreachable(fetch, connections):
    with pytest.raises(ApiError) as err:
        fetch("/a.png", host="nowhere.test")
    assert (err.value.status, err.value.code) == (422, "image_url_unreachable")
    assert connections == []


# --- one deadline for the whole fetch ----------------------------------------------------------------------


class Dripping(threading.Thread):
    """A TLS server that answers slowly on purpose: `head` at once, then `drip` one byte every 0.1 s."""

    def __init__(self, certs: Path, head: bytes, drip: bytes):
        super().__init__(daemon=True)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(certs / "leaf.pem", certs / "leaf.key")
        self.head, self.drip = head, drip

    def run(self) -> None:
        conn, _ = self.listener.accept()
        with self.tls.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)  # the request
            try:
                tls.sendall(self.head)
                for byte in self.drip:
                    tls.sendall(bytes([byte]))
                    time.sleep(0.1)
            except OSError:
                pass  # the client gave up: what we want


@pytest.mark.parametrize(
    ("head", "drip"),
    [
        (b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 200),  # headers that never end
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"0" * 200),  # a chunk size that never ends
    ],
)
def test_a_server_dripping_bytes_cannot_stretch_the_timeout(certs, head, drip):
    server = Dripping(certs, head, drip)
    server.start()
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        fetch_image(f"https://{HOST}:{server.port}/a.png", "image_url", resolve=lambda h, p: ["127.0.0.1"],
                    context=context, allow_loopback=True, timeout=1.0)  # fmt: skip
    elapsed = time.monotonic() - started
    assert (err.value.status, err.value.code) == (422, "image_url_unreachable")
    assert "took longer than 1s" in err.value.message
    assert elapsed < 1.5, f"a 1 s fetch took {elapsed:.1f} s"


def test_unreachable_addresses_share_one_deadline(monkeypatch):
    # GIVEN a host with four public addresses, each of which never answers a connect (no packet is sent:
    # the connect is replaced by one that waits out the timeout it is given)
    given: list[float] = []

    def hanging(address, timeout=None, *args, **kwargs):
        given.append(timeout)
        time.sleep(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hanging)
    addresses = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222"]
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        fetch_image("https://images.example/a.png", "image_url", resolve=lambda h, p: addresses, timeout=1.0)
    # THEN the whole fetch took the one second, not one per address
    assert err.value.code == "image_url_unreachable"
    assert time.monotonic() - started < 1.4
    assert sum(given) <= 1.05
