"""Jobs for every model over HTTP: `Prefer: respond-async` on Bedrock runs in the worker from LocalStack's
SQS (polled as Lambda's event source mapping), a burst past the model's quota queues instead of failing,
and the caller's webhook arrives signed (verified by the openai SDK) with the job's fresh image URLs."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from openai import OpenAI

from tests.integration.conftest import JOB
from tests.integration.test_generate_api import models  # noqa: F401  (the fake Bedrock fixture)

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def receiver():
    got: list[tuple[dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append((dict(self.headers), self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/imagegen", got
    server.shutdown()


def wait_until(check, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail("timed out")


def test_a_bedrock_job_runs_in_the_worker_and_its_signed_webhook_arrives(api, models, receiver):  # noqa: F811
    url, got = receiver
    # WHEN a Bedrock generation asks for a job and names a webhook
    body = {"prompt": "a lighthouse", "model": "sd3.5-large", "webhook": url}
    response = requests.post(f"{api}/v1/images/generations", json=body, headers=JOB, timeout=30)
    # THEN 202 at once, queued
    assert response.status_code == 202 and response.json()["status"] == "queued", response.text
    job_id = response.json()["id"]
    # AND the worker makes it and the receiver gets one event, signed with the key's secret
    wait_until(lambda: got)
    headers, raw = got[0]
    secret = requests.get(f"{api}/v1/webhooks/default/secret", timeout=10).json()["key"]
    OpenAI(api_key="x", webhook_secret=secret).webhooks.verify_signature(raw, headers)
    event = json.loads(raw)
    assert event["type"] == "job.succeeded" and event["data"]["id"] == job_id
    assert requests.get(event["data"]["images"][0]["url"], timeout=10).content[:8] == PNG
    # AND the job says its webhook was delivered
    job = wait_until(
        lambda: (
            (j := requests.get(f"{api}/v1/jobs/{job_id}", timeout=10).json()).get("webhook", {}).get("deliveries") and j
        )
    )
    assert job["status"] == "succeeded" and job["webhook"]["deliveries"]["state"] == "delivered"


def test_a_burst_past_the_models_quota_queues_and_every_job_succeeds(api, models):  # noqa: F811
    # GIVEN a model that takes 4 requests per 2 s
    models.quota, models.throttled = (4, 2.0), 0
    try:
        # WHEN 16 jobs come at once
        def post(n: int) -> requests.Response:
            body = {"prompt": f"burst {n}", "model": "sd3.5-large"}
            return requests.post(f"{api}/v1/images/generations", json=body, headers=JOB, timeout=30)

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(post, range(16)))
        assert [a.status_code for a in answers] == [202] * 16
        ids = [a.json()["id"] for a in answers]

        # THEN every one succeeds, one image each, though the model refused some calls on the way
        def done():
            jobs = [requests.get(f"{api}/v1/jobs/{i}", timeout=10).json() for i in ids]
            return jobs if all(j["status"] in ("succeeded", "failed") for j in jobs) else None

        jobs = wait_until(done, 90)
        assert [j["status"] for j in jobs] == ["succeeded"] * 16 and all(len(j["images"]) == 1 for j in jobs)
        assert models.throttled > 0  # the quota was reached: the queue and the backoff absorbed it
    finally:
        models.quota = None
