"""The local server speaks HTTP/1.1 as a client sends it: chunked request bodies and `Expect: 100-continue`.

API Gateway buffers a request before it invokes Lambda, so a function always gets one whole body,
however the client framed it; clients that stream uploads (the openai Node SDK with
`fs.createReadStream`, requests with a generator) send `Transfer-Encoding: chunked` and no
Content-Length. Raw sockets here, so the framing on the wire is exactly what the test says.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from localdev.fake_replicate import render
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock, as a fixture)

pytestmark = pytest.mark.integration


def connect(api: str) -> socket.socket:
    parts = urlsplit(api)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def chunked(data: bytes, size: int = 1000) -> bytes:
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 answer (status, headers, body by its Content-Length) off the socket."""
    stream = sock.makefile("rb")
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", 0)))
    return status, headers, body


def request_head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_chunked_json_generation_gets_its_images(api, models):  # noqa: F811
    body = json.dumps({"prompt": "a lighthouse at dusk", "n": 2}).encode()
    with connect(api) as sock:
        head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(request_head("POST", "/v1/images/generations", head) + chunked(body, 7))
        status, _, answer = read_answer(sock)
    assert status == 201, answer
    assert len(json.loads(answer)["data"]) == 2


def test_a_streamed_multipart_upload_is_one_body_to_the_function(api, fake_replicate):
    """requests sends a generator body chunked, as the Node SDK sends a ReadStream."""
    image = render(b"chunked upload")
    boundary = "imagegenboundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def pieces():
        for i in range(0, len(form), 4096):
            yield form[i : i + 4096]

    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "prefer": "respond-async"}
    response = requests.post(f"{api}/v1/images/edits", data=pieces(), headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    assert len(response.json()["jobs"]) == 1


def test_expect_100_continue_gets_the_go_ahead_then_the_answer(api, models):  # noqa: F811
    body = json.dumps({"prompt": "a red kite"}).encode()
    with connect(api) as sock:
        head = {"Content-Type": "application/json", "Content-Length": str(len(body)), "Expect": "100-continue"}
        sock.sendall(request_head("POST", "/v1/images/generations", head))
        interim = sock.recv(64)
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        sock.sendall(body)
        status, _, answer = read_answer(sock)
    assert status == 201, answer


def test_expect_100_continue_over_the_limit_is_refused_before_the_body_is_sent(api):
    with connect(api) as sock:
        head = {"Content-Type": "application/json", "Content-Length": str(20 * 1024 * 1024), "Expect": "100-continue"}
        sock.sendall(request_head("POST", "/v1/images/generations", head))
        status, _, answer = read_answer(sock)
    assert status == 413
    assert b"exceeded" in answer


def test_a_chunked_body_over_api_gateways_limit_is_a_413(api):
    with connect(api) as sock:
        head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(request_head("POST", "/v1/images/generations", head))
        sock.sendall(chunked(b"x" * (11 * 1024 * 1024), 1024 * 1024))
        status, _, _ = read_answer(sock)
    assert status == 413


def test_broken_chunk_framing_is_a_400_and_the_connection_closes(api):
    with connect(api) as sock:
        head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
        sock.sendall(request_head("POST", "/v1/images/generations", head) + b"zz\r\n{}\r\n0\r\n\r\n")
        status, _, answer = read_answer(sock)
        assert status == 400 and json.loads(answer) == {"message": "Bad Request"}
        assert sock.recv(1) == b""  # closed: nothing after a request whose end is unknown is trusted


@pytest.mark.parametrize(
    "head, body",
    [
        ({"Content-Length": "-1"}, b'{"prompt": "x"}'),  # read to the end of the stream, before auth
        ({"Content-Length": "+15"}, b'{"prompt": "x"}'),
        ({"Transfer-Encoding": "chunked"}, b"-5\r\n{}\r\n0\r\n\r\n"),  # a negative chunk size
        ({"Transfer-Encoding": "chunked"}, b"0x2\r\n{}\r\n0\r\n\r\n"),
    ],
)
def test_a_length_that_is_not_a_whole_number_is_a_400_at_once(api, head, body):
    """Answered before anything past the head is trusted: no read without limit, no wait for an end."""
    with connect(api) as sock:
        sock.sendall(request_head("POST", "/v1/images/generations", {"Content-Type": "application/json", **head}))
        sock.sendall(body)  # and the stream stays open: a reader without limit would wait here for ever
        status, _, answer = read_answer(sock)
        assert status == 400 and json.loads(answer) == {"message": "Bad Request"}
        assert sock.recv(1) == b""


def test_content_length_and_chunked_together_get_one_answer(api):
    """Two framings of one body (a smuggling vector): one 400, the connection closed, so the bytes that
    a Content-Length reader would take for a second request are never answered."""
    smuggled = request_head("GET", "/v1/models", {})
    body = b"0\r\n\r\n" + smuggled
    head = {"Content-Type": "application/json", "Transfer-Encoding": "chunked", "Content-Length": str(len(body))}
    with connect(api) as sock:
        sock.sendall(request_head("POST", "/v1/images/generations", head) + body)
        status, _, answer = read_answer(sock)
        assert status == 400 and json.loads(answer) == {"message": "Bad Request"}
        assert sock.recv(1) == b""  # no second answer
