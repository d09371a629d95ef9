"""GET /v1/jobs/{id} and the local HTTP API server, over real HTTP, with LocalStack behind them."""

from __future__ import annotations

import concurrent.futures
import os
import re
import socket
import threading

import pytest
import requests

from imagegen import bucket as storage
from imagegen.jobs import records
from localdev.server import Cors, LocalApi, Route

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_unknown_job_is_a_404_json_error(api):
    response = requests.get(f"{api}/v1/jobs/nope", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "job_not_found"
    missing = requests.get(f"{api}/v1/jobs/{storage.new_job_id()}", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "job_not_found"


def test_stored_job_is_served_with_urls_that_download_the_image(api, s3, bucket):
    # GIVEN a job record and its image in LocalStack, written the way the providers write them
    job = records.create(records.new_job(storage.new_job_id(), provider="bedrock", model="m", prompt="p"))
    key = f"images/2026/11/23/{job['id']}/0.png"
    assert storage.put_new(key, PNG, "image/png")
    records.update(
        job["id"], lambda j: {**j, "status": "succeeded", "images": [{"key": key, "content_type": "image/png"}]}
    )
    # WHEN a client asks for it over HTTP
    response = requests.get(f"{api}/v1/jobs/{job['id']}", timeout=10)
    # THEN it is succeeded, and its presigned URL downloads exactly the stored bytes
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "succeeded" and body["provider"] == "bedrock"
    download = requests.get(body["images"][0]["url"], timeout=10)
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"


def test_a_route_or_method_it_has_not_got_is_api_gateways_404(api):
    for method, path in [("GET", "/nope"), ("DELETE", "/v1/jobs/abc"), ("GET", "/v1/images/edits"), ("TRACE", "/")]:
        response = requests.request(method, f"{api}{path}", timeout=10)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"message": "Not Found"}, (method, path)


def big_body(size: int) -> bytes:
    return b"\x89PNG" + os.urandom(size - 4)


def test_an_event_over_lambdas_6_mb_is_refused_as_api_gateway_does(api):
    # GIVEN a 4.6 MiB binary upload: 6.4 MB once API Gateway base64-encodes it into the event
    response = requests.post(
        f"{api}/v1/images/edits",
        data=big_body(int(4.6 * 2**20)),
        headers={"content-type": "application/octet-stream"},
        timeout=30,
    )
    # THEN Lambda would refuse the invocation: API Gateway's own 413, not our JSON
    assert response.status_code == 413
    assert response.json() == {"message": "Request Too Long"}
    # AND 4.4 MiB (5.9 MiB base64-encoded) still reaches the function, which answers for itself
    fits = requests.post(
        f"{api}/v1/images/edits",
        data=big_body(int(4.4 * 2**20)),
        headers={"content-type": "application/octet-stream"},
        timeout=30,
    )
    assert fits.status_code == 415 and fits.json()["error"]["code"] == "unsupported_media_type"


def test_a_body_over_api_gateways_10_mb_is_refused_before_anything(api):
    response = requests.post(f"{api}/v1/images/edits", data=b"x" * (10 * 1024 * 1024 + 1), timeout=60)
    assert response.status_code == 413 and "HTTP content length exceeded 10485760 bytes" in response.text


def test_an_answer_over_lambdas_6_mb_is_api_gateways_502(bucket, tmp_path):
    # GIVEN a function that answers 7 MB
    routes = [Route("GET /big", "GET", re.compile("^/big$"), "big", auth=False)]
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "handler.py").write_text(
        "def handler(event, context):\n    return {'statusCode': 200, 'body': 'x' * (7 * 1024 * 1024)}\n"
    )
    server = LocalApi(("127.0.0.1", 0), routes=routes, functions_dir=tmp_path)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        response = requests.get(f"{server.url}/big", timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    # THEN the client gets what API Gateway answers when Lambda cannot return the response
    assert response.status_code == 502 and response.json() == {"message": "Internal Server Error"}


def cors_server(origins: list[str]) -> LocalApi:
    server = LocalApi(("127.0.0.1", 0), cors=Cors.like_terraform(origins))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("origins", [["*"], ["https://app.example.com"]])
def test_cors_on_answers_preflights_and_allows_the_configured_origins(bucket, origins):
    server = cors_server(origins)
    try:
        headers = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
        preflight = requests.options(f"{server.url}/v1/images/generations", headers=headers, timeout=10)
        assert preflight.status_code == 204
        assert "POST" in preflight.headers["access-control-allow-methods"]
        allowed = preflight.headers["access-control-allow-headers"].split(",")
        assert {"authorization", "content-type", "prefer"} <= set(allowed)  # Prefer: wait from a browser
        answer = requests.get(f"{server.url}/v1/jobs/nope", headers={"origin": "https://app.example.com"}, timeout=10)
        assert answer.headers["access-control-allow-origin"] == origins[0]
        # a page may read a 429's wait, a job's Location and which preference was applied
        exposed = answer.headers["access-control-expose-headers"].split(",")
        assert {"retry-after", "location", "preference-applied"} <= set(exposed)
        other = requests.get(f"{server.url}/v1/jobs/nope", headers={"origin": "https://evil.example"}, timeout=10)
        assert ("access-control-allow-origin" in other.headers) == (origins == ["*"])
    finally:
        server.shutdown()
        server.server_close()


def test_cors_off_means_no_cors_header_from_anyone(api):
    # The default test server has CORS off, as Terraform with cors_allowed_origins = []
    headers = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
    preflight = requests.options(f"{api}/v1/images/generations", headers=headers, timeout=10)
    assert preflight.status_code == 404  # no OPTIONS route, and API Gateway does not answer for CORS
    answer = requests.get(f"{api}/v1/jobs/nope", headers={"origin": "https://app.example.com"}, timeout=10)
    assert answer.status_code == 404
    assert not [name for name in answer.headers if name.lower().startswith("access-control-")]


SLOW_HANDLER = """
import threading, time
lock, state = threading.Lock(), {"now": 0, "most": 0}

def handler(event, context):
    with lock:
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
    time.sleep(0.5)
    with lock:
        state["now"] -= 1
    return {"statusCode": 200, "body": str(state["most"])}
"""


def test_concurrent_requests_are_served_in_parallel(bucket, tmp_path):
    # GIVEN a route whose function takes half a second
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "handler.py").write_text(SLOW_HANDLER)
    server = LocalApi(("127.0.0.1", 0), routes=[Route("GET /slow", "GET", re.compile("^/slow$"), "slow", False)],
                      functions_dir=tmp_path)  # fmt: skip
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # WHEN 8 requests come at once
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: requests.get(f"{server.url}/slow", timeout=30), range(8)))
    finally:
        server.shutdown()
        server.server_close()
    # THEN they ran at the same time: the handler saw several of them in flight at once
    assert [a.status_code for a in answers] == [200] * 8
    assert max(int(a.text) for a in answers) >= 4


def test_malformed_http_does_not_kill_the_server(api):
    host, port = api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        sock.recv(1024)
    assert requests.get(f"{api}/v1/jobs/nope", timeout=10).status_code == 404


def raw_request(url: str, lines: list[str]) -> bytes:
    """Send exactly these request lines (repeated headers and all) and read the whole answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(("\r\n".join([*lines, "Connection: close", "", ""])).encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_two_authorization_headers_are_joined_as_api_gateway_does(bucket):
    from imagegen import apikeys

    key = apikeys.mint("duplicate headers")[0]
    server = LocalApi(("127.0.0.1", 0), auth="api_key")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        path = f"/v1/jobs/{'0' * 32}"
        one = raw_request(server.url, [f"GET {path} HTTP/1.1", "Host: x", f"Authorization: Bearer {key}"])
        both = ["Authorization: Bearer nope", f"Authorization: Bearer {key}"]
        two = raw_request(server.url, [f"GET {path} HTTP/1.1", "Host: x", *both])
    finally:
        server.shutdown()
        server.server_close()
    # THEN one key is let through (to the job's own 404); two are one value "Bearer nope,Bearer igk_..." to
    # the authorizer, which refuses it: API Gateway's 403, never the last header winning
    assert one.split(b"\r\n", 1)[0].endswith(b"404 Not Found")
    assert two.split(b"\r\n", 1)[0].endswith(b"403 Forbidden") and two.endswith(b'{"message":"Forbidden"}')
