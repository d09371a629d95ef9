"""Download an image from a URL a client gave us, without letting the client reach our own network (SSRF).

The host is resolved once, every address it resolves to must be public, and the TCP connection goes to that
checked address: nothing looks the name up again, so DNS rebinding cannot swap in 169.254.169.254 or 10.x between
the check and the connect. TLS is still verified against the URL's hostname. Redirects are re-checked hop by hop.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin, urlsplit

from imagegen import settings
from imagegen.errors import ApiError, param_of
from imagegen.images import formats

log = logging.getLogger("imagegen")

MAX_URL_LENGTH = 2048
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK_BYTES = 64 * 1024
USER_AGENT = "imagegen-fetch/1"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> getaddrinfo()-style tuples (or plain address strings, which tests find handier).
Resolver = Callable[[str, int], Sequence[Any]]


def _getaddrinfo(host: str, port: int) -> Sequence[Any]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _refused(field: str, reason: str) -> ApiError:
    return ApiError(400, "url_refused", f"{field}: {reason}", param=field)


def _invalid(field: str, reason: str) -> ApiError:
    return ApiError(400, "invalid_image_url", f"{field}: {reason}", param=field)


def _unreachable(field: str, reason: str) -> ApiError:
    return ApiError(422, "image_url_unreachable", f"{field}: {reason}", param=field)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64, IPv4-compatible), which is where packets go."""
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip in _NAT64 or int(ip) >> 32 == 0:  # 64:ff9b::a.b.c.d and the deprecated ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """True only for a globally routable unicast address (is_global alone passes multicast, 6to4, NAT64 ...)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not is_public(embedded):
            return False
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def _parse(url: object, field: str) -> tuple[str, int, str]:
    """(hostname, port, path?query) of an https URL we are willing to fetch, or a 400 saying why not."""
    if not isinstance(url, str) or not url:
        raise _invalid(field, "must be a non-empty URL string")
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(field, f"the URL is longer than {MAX_URL_LENGTH} characters")
    # Control characters and spaces could split the request line; non-ASCII must arrive percent-encoded / punycode.
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise _invalid(field, "the URL has spaces, control or non-ASCII characters (percent-encode them)")
    try:
        parts = urlsplit(url)
        port = 443 if parts.port is None else parts.port
    except ValueError:
        raise _invalid(field, "is not a valid URL") from None
    if parts.scheme != "https":
        raise _refused(field, "only https URLs are fetched")
    if "@" in parts.netloc:
        raise _refused(field, "URLs with credentials (user:password@) are not accepted")
    if not parts.hostname:
        raise _invalid(field, "the URL has no host")
    if not 0 < port < 65536:
        raise _invalid(field, "the URL's port is out of range")
    return parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def check_url(url: object, field: str) -> str:
    """The URL, if it is one fetch_image would try (https, a host, no credentials, plain ASCII): checked
    before anything is fetched, with the refusal fetch_image would give."""
    _parse(url, field)
    return str(url)


def _checked_addresses(host: str, port: int, field: str, resolve: Resolver, allow_loopback: bool) -> list[IPAddress]:
    """Every address the host has, each of them public (or loopback when allowed), else a refusal."""
    try:
        found: list[Any] = [host]
        ipaddress.ip_address(host)  # an IP literal needs no lookup
    except ValueError:
        try:
            found = list(resolve(host, port))
        except UnicodeError:
            raise _invalid(field, f"{host} is not a valid hostname") from None
        except OSError:
            raise _unreachable(field, f"could not resolve {host}") from None
    addresses: list[IPAddress] = []
    for item in found:
        try:
            ip = ipaddress.ip_address(item if isinstance(item, str) else item[4][0])
        except (ValueError, IndexError, TypeError):
            raise _refused(field, f"{host} resolves to something that is not an IP address") from None
        # Any non-public answer refuses the host: we must not let a mixed answer pick which one we use.
        if not (is_public(ip) or (allow_loopback and ip.is_loopback)):
            raise _refused(field, f"{host} is not a public address (or resolves to one that is not)")
        addresses.append(ip)
    if not addresses:
        raise _unreachable(field, f"{host} resolves to no address")
    return list(dict.fromkeys(addresses))


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to addresses already checked: no DNS lookup of its own, SNI and certificate checked for `host`.

    Everything it does ends by `deadline`: each address is tried with what is left of it, and `cut()`
    (the fetch's watchdog, at the deadline) shuts the socket down under whatever read is blocked, so a
    server dripping bytes (headers, chunk sizes, a TLS handshake) cannot stretch the time."""

    def __init__(self, host: str, port: int, addresses: list[IPAddress], context: ssl.SSLContext, deadline: float):
        super().__init__(host, port, timeout=max(0.001, deadline - time.monotonic()), context=context)
        self._addresses = addresses
        self._tls = context
        self._deadline = deadline
        self.raw_sock: socket.socket | None = None
        self.was_cut = False
        self.pinned_sock: ssl.SSLSocket | None = None  # kept: http.client drops self.sock when the server closes

    def connect(self) -> None:
        error: OSError = OSError("no address")
        for ip in self._addresses:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the deadline passed while connecting")
            try:
                raw = socket.create_connection((str(ip), self.port), left)
                break
            except OSError as exc:
                error = exc
        else:
            raise error
        self.raw_sock = raw
        try:
            self.sock = self.pinned_sock = self._tls.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise

    def cut(self) -> None:
        """The deadline: whatever is blocked on the socket returns at once (the TLS socket took over the
        raw one's descriptor once the handshake began). What was read by then is not to be trusted."""
        self.was_cut = True
        for sock in (self.pinned_sock, self.raw_sock):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    return
                except OSError:
                    continue


def _remaining(deadline: float, field: str, timeout: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _unreachable(field, f"the download took longer than {timeout:g}s")
    return left


def _read_body(
    response: http.client.HTTPResponse,
    conn: _PinnedHTTPSConnection,
    field: str,
    max_bytes: int,
    deadline: float,
    timeout: float,
) -> bytes:
    """The body, streamed and stopped as soon as it is over max_bytes or past the deadline."""
    length = (response.getheader("content-length") or "").strip()
    if length.isdigit() and int(length) > max_bytes:
        raise ApiError(
            413, "image_too_large", f"{field}: the image is {length} bytes; the limit is {max_bytes}", param_of(field)
        )
    chunks: list[bytes] = []
    total = 0
    while True:
        if conn.pinned_sock is not None:  # each read may only use what is left of the overall time
            conn.pinned_sock.settimeout(_remaining(deadline, field, timeout))
        # read1 returns after one socket read, so a server dripping bytes cannot hold us inside one call.
        chunk = response.read1(min(CHUNK_BYTES, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise ApiError(
                413, "image_too_large", f"{field}: the image is over the limit of {max_bytes} bytes", param_of(field)
            )
        chunks.append(chunk)


def _describe(exc: Exception, host: str) -> str:
    """A client-safe reason for a network failure (no addresses, no URL, no exception text)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the TLS certificate of {host} could not be verified"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake with {host} failed"
    if isinstance(exc, TimeoutError):
        return f"{host} did not answer in time"
    if isinstance(exc, http.client.HTTPException):
        return f"{host} did not answer with valid HTTP"
    return f"could not connect to {host}"


def fetch_image(
    url: str,
    field: str,
    *,
    max_bytes: int = formats.MAX_IMAGE_BYTES,
    timeout: float = 10.0,
    max_redirects: int = 3,
    resolve: Resolver | None = None,
    context: ssl.SSLContext | None = None,
    allow_loopback: bool = False,
) -> tuple[bytes, str]:
    """Download the image at an https `url` (a request field named `field`); returns (bytes, media type).

    Refusals are 400 (url_refused / invalid_image_url), an oversized body 413, a body that is not an image
    400 not_an_image, and a remote failure (DNS, connect, TLS, timeout, non-2xx) 422 image_url_unreachable.
    `allow_loopback` is for tests and local mode only.
    """
    resolve = resolve or _getaddrinfo
    context = context or ssl.create_default_context()
    deadline = time.monotonic() + timeout
    for _hop in range(max_redirects + 1):
        host, port, target = _parse(url, field)
        addresses = _checked_addresses(host, port, field, resolve, allow_loopback)
        log.info("fetching %s from https://%s", field, host)  # never the path or query: they may carry a token
        _remaining(deadline, field, timeout)
        conn = _PinnedHTTPSConnection(host, port, addresses, context, deadline)
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), conn.cut)
        watchdog.daemon = True
        watchdog.start()
        name = f"[{host}]" if ":" in host else host
        headers = {"Host": name if port == 443 else f"{name}:{port}", "User-Agent": USER_AGENT, "Accept": "image/*"}
        response: http.client.HTTPResponse | None = None
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            location = response.getheader("location")
            if response.status in REDIRECT_STATUSES and location:
                url = urljoin(url, location.strip())  # checked by every rule again at the top of the loop
                continue
            if not 200 <= response.status < 300:
                raise _unreachable(field, f"{host} answered with an error (HTTP {response.status})")
            data = _read_body(response, conn, field, max_bytes, deadline, timeout)
            if conn.was_cut:  # a body cut short can parse as a whole one (a chunk size of "0...")
                raise TimeoutError("cut at the deadline")
        except (OSError, http.client.HTTPException) as exc:
            if conn.was_cut or time.monotonic() >= deadline:  # the watchdog cut it, or a read ran out of time
                raise _unreachable(field, f"the download took longer than {timeout:g}s") from None
            raise _unreachable(field, _describe(exc, host)) from None
        finally:
            watchdog.cancel()
            conn.close()
            if response is not None:  # when the server closes, http.client hands the socket to the response
                response.close()
        return data, formats.check_image(data, field, max_bytes)
    raise _refused(field, f"too many redirects (the limit is {max_redirects})")


# A reference: (field, https URL still to fetch) or (field, bytes already decoded from a data: URL).
Reference = tuple[str, "str | bytes"]


def fetch_all(references: list[Reference], budget: float, loopback: bool = False) -> list[tuple[str, bytes]]:
    """The bytes of every reference, in order: the https ones fetched at once, all within `budget`
    seconds of now (one deadline, not one per URL); the first failure, in request order, is the answer."""
    urls = [(i, field, url) for i, (field, url) in enumerate(references) if isinstance(url, str)]
    results: dict[int, bytes] = {i: data for i, (_, data) in enumerate(references) if isinstance(data, bytes)}
    if urls:

        def one(item: tuple[int, str, str]) -> bytes:
            _, field, url = item
            try:
                return fetch_image(url, f"{field}.image_url", timeout=budget, allow_loopback=loopback)[0]
            except ApiError as err:
                raise ApiError(err.status, err.code, err.message, param_of(field)) from None

        with ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="fetch") as pool:
            futures = [(item[0], pool.submit(one, item)) for item in urls]
        for i, future in futures:  # all done (the pool has closed): the first error in request order
            results[i] = future.result()
    return [(field, results[i]) for i, (field, _) in enumerate(references)]


def loopback_http(url: object, allowed: bool) -> bool:
    """make serve's receivers: a plain-http URL to this machine, when `allowed` (never in production)."""
    if not allowed or not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme == "http" and parts.hostname in settings.LOOPBACK_HOSTS
    except ValueError:
        return False


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    field: str = "webhook",
    *,
    timeout: float = 10.0,
    resolve: Resolver | None = None,
    context: ssl.SSLContext | None = None,
    allow_loopback_http: bool = False,
) -> int:
    """POST `body` to a caller's `url` (a webhook) under the same guard as fetch_image: https to a public
    address, resolved once and pinned; no redirect followed (a 3xx is the answer); at most `timeout`
    seconds in all. The HTTP status; a refused URL is a 400, a network failure a 422 saying why.
    `allow_loopback_http`: make serve's http://127.0.0.1 receivers (never set by Terraform)."""
    deadline = time.monotonic() + timeout
    if loopback_http(url, allow_loopback_http):
        parts = urlsplit(url)
        host, target = parts.hostname, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection = http.client.HTTPConnection(host, parts.port or 80, timeout=timeout)
    else:
        host, port, target = _parse(url, field)
        addresses = _checked_addresses(host, port, field, resolve or _getaddrinfo, False)
        conn = _PinnedHTTPSConnection(host, port, addresses, context or ssl.create_default_context(), deadline)
    watchdog = threading.Timer(timeout, getattr(conn, "cut", conn.close))
    watchdog.daemon = True
    watchdog.start()
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    try:
        conn.request("POST", target, body=body, headers=sent)
        response = conn.getresponse()
        response.read(CHUNK_BYTES)  # a little of the answer, never more: only its status matters
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        if time.monotonic() >= deadline or getattr(conn, "was_cut", False):
            raise _unreachable(field, f"{host} did not answer within {timeout:g}s") from None
        raise _unreachable(field, _describe(exc, host)) from None
    finally:
        watchdog.cancel()
        conn.close()
