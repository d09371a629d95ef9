"""GET /v1/jobs/{id} and the local HTTP API server, over real HTTP, with LocalStack behind them."""

from __future__ import annotations

import concurrent.futures
import socket

import requests

from imagegen import jobs, storage

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
    job = jobs.create(jobs.new_job(storage.new_job_id(), provider="bedrock", model="m", prompt="p"))
    key = f"images/2026/11/23/{job['id']}/0.png"
    assert storage.put_new(key, PNG, "image/png")
    jobs.update(
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


def test_unknown_route_is_a_404_json_error(api):
    for method, path in [("GET", "/nope"), ("DELETE", "/v1/jobs/abc"), ("GET", "/v1/images/edits")]:
        response = requests.request(method, f"{api}{path}", timeout=10)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "route_not_found"


def test_body_over_6_mb_is_a_413_before_any_handler_runs(api):
    response = requests.post(
        f"{api}/v1/images/edits",
        data=b"x" * (6 * 1024 * 1024 + 1),
        headers={"content-type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_cors_preflight_and_headers(api):
    preflight = requests.options(f"{api}/v1/images/generations", timeout=10)
    assert preflight.status_code == 204
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert requests.get(f"{api}/v1/jobs/nope", timeout=10).headers["access-control-allow-origin"] == "*"


def test_concurrent_requests_are_served_in_parallel(api):
    job = jobs.create(jobs.new_job(storage.new_job_id(), provider="bedrock", model="m"))
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(
            pool.map(lambda _: requests.get(f"{api}/v1/jobs/{job['id']}", timeout=30).status_code, range(48))
        )
    assert statuses == [200] * 48


def test_malformed_http_does_not_kill_the_server(api):
    host, port = api.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        sock.recv(1024)
    assert requests.get(f"{api}/v1/jobs/nope", timeout=10).status_code == 404
