"""Faults, proven over HTTP (LocalStack + the fake Replicate): nothing lost, nothing stored twice."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from botocore.exceptions import ClientError

from imagegen import aws
from localdev.fake_replicate import render
from tests.integration.conftest import JOB
from tests.integration.test_edit_api import wait_for_deliveries, wait_for_job


@pytest.fixture
def s3_fails_once_on_images():
    """The functions' own S3 client answers 503 SlowDown to the first PutObject under images/."""
    client = aws.client("s3")
    failed: list[str] = []

    def fail_first_image_put(params, **_):
        if params.get("Key", "").startswith("images/") and not failed:
            failed.append(params["Key"])
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."}}, "PutObject"
            )

    client.meta.events.register("before-parameter-build.s3.PutObject", fail_first_image_put, unique_id="fault-s3")
    yield failed
    client.meta.events.unregister("before-parameter-build.s3.PutObject", unique_id="fault-s3")


def keys(s3, bucket: str, prefix: str) -> list[str]:
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_s3_failing_while_the_webhook_stores_is_redelivered_without_loss(
    api, fake_replicate, s3, bucket, s3_fails_once_on_images
):
    # GIVEN S3 that fails the first image write
    body = {"image": base64.b64encode(render(b"fault")).decode()}
    response = requests.post(f"{api}/v1/images/edits", json=body, headers=JOB, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["id"]
    # WHEN Replicate delivers the webhook THEN the first delivery is a 5xx (the job stays open) and
    # the redelivery stores the image: exactly one image, the job succeeded
    job = wait_for_job(api, job_id)
    assert job["status"] == "succeeded", job
    assert s3_fails_once_on_images, "the fault was never injected"
    prediction_id = next(p for p, v in fake_replicate.predictions.items() if f"job_id={job_id}" in v.get("webhook", ""))
    statuses = [d["status"] for d in wait_for_deliveries(fake_replicate, prediction_id, 2)]
    assert statuses[0] == 503 and statuses[-1] == 200, statuses
    assert len([key for key in keys(s3, bucket, "images/") if f"/{job_id}/" in key]) == 1
    assert len(job["images"]) == 1


def test_200_concurrent_edits_and_their_webhooks_lose_nothing(api, fake_replicate, s3, bucket):
    # GIVEN 200 edit requests sent at once (50 clients in parallel)
    sources = [render(f"load {n}".encode()) for n in range(200)]

    def post(source: bytes) -> requests.Response:
        body = {"image": base64.b64encode(source).decode()}
        return requests.post(f"{api}/v1/images/edits", json=body, headers=JOB, timeout=60)

    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(post, sources))
    assert [r.status_code for r in responses] == [202] * 200, {r.status_code for r in responses}
    job_ids = [r.json()["jobs"][0]["id"] for r in responses]
    # WHEN their 200 webhooks come back THEN 200 jobs succeeded with 200 distinct images
    with ThreadPoolExecutor(20) as pool:
        finished = list(pool.map(lambda job_id: wait_for_job(api, job_id), job_ids))
    elapsed = time.monotonic() - started
    assert [job["status"] for job in finished].count("succeeded") == 200
    image_keys = {job["images"][0]["key"] for job in finished}
    assert len(set(job_ids)) == 200 and len(image_keys) == 200
    stored = {key for key in keys_all(s3, bucket, "images/") if key.split("/")[4] in set(job_ids)}
    assert stored == image_keys
    print(f"\n200 concurrent edits -> 200 jobs succeeded, 200 distinct images stored in {elapsed:.1f} s")


def keys_all(s3, bucket: str, prefix: str) -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [item["Key"] for item in page.get("Contents", [])]
    return found
