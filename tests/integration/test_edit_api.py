"""POST /v1/images/edits end to end: local HTTP API server -> fake Replicate -> signed webhook -> LocalStack S3."""

from __future__ import annotations

import base64
import time

import pytest
import requests

from localdev.fake_replicate import render
from tests.integration.conftest import JOB

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 15


def wait_for_job(api: str, job_id: str, statuses=("succeeded", "failed", "canceled")) -> dict:
    """GET the job until it reaches one of `statuses` (bounded: fails the test after the deadline)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        job = requests.get(f"{api}/v1/jobs/{job_id}", timeout=10).json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['status']} after {DEADLINE_SECONDS} s")
        time.sleep(0.05)


def wait_for_deliveries(fake, prediction_id: str, count: int) -> list[dict]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while len(fake.deliveries_for(prediction_id)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"fewer than {count} webhook deliveries for {prediction_id}")
        time.sleep(0.05)
    return fake.deliveries_for(prediction_id)


def keys(s3, bucket: str, prefix: str) -> list[str]:
    response = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(obj["Key"] for obj in response.get("Contents", []))


def job_record(s3, bucket: str, job_id: str) -> dict:
    import json

    return json.loads(s3.get_object(Bucket=bucket, Key=f"jobs/{job_id}.json")["Body"].read())


def test_multipart_three_images_become_three_stored_results(api, fake_replicate, s3, bucket):
    # GIVEN three different images as file parts of one multipart request
    sources = [render(f"source {i}".encode()) for i in range(3)]
    files = [("image", (f"photo{i}.png", data, "image/png")) for i, data in enumerate(sources)]

    # WHEN they are posted to the edits route
    response = requests.post(f"{api}/v1/images/edits", files=files, headers=JOB, timeout=30)

    # THEN there are three queued jobs at once
    assert response.status_code == 202, response.text
    listed = response.json()["jobs"]
    assert len(listed) == 3 and len({job["id"] for job in listed}) == 3
    assert all(job["status"] == "queued" and job["links"]["self"] == f"/v1/jobs/{job['id']}" for job in listed)

    for job_id in (job["id"] for job in listed):
        # AND each one ends succeeded after its webhook, with one image in S3 equal to the fake's output
        job = wait_for_job(api, job_id)
        assert job["status"] == "succeeded", job
        assert job["error"] is None
        record = job_record(s3, bucket, job_id)
        prediction = fake_replicate.predictions[record["prediction_id"]]
        expected = fake_replicate.outputs[prediction["output"]]
        stored = keys(s3, bucket, "images/")
        mine = [key for key in stored if f"/{job_id}/" in key]
        assert mine == [job["images"][0]["key"]]
        assert mine[0].endswith("/0.png") and mine[0].startswith(
            f"images/{record['created_at'][:10].replace('-', '/')}/"
        )
        assert s3.get_object(Bucket=bucket, Key=mine[0])["Body"].read() == expected
        # AND its presigned URL downloads those bytes over HTTP
        image = job["images"][0]
        assert image["expires_at"] and image["content_type"] == "image/png"
        assert requests.get(image["url"], timeout=10).content == expected
        # AND Replicate was given a presigned URL of the uploaded source, and fetched it
        source_key = record["upload_key"]
        assert source_key == f"uploads/{job_id}/0.png"
        assert s3.get_object(Bucket=bucket, Key=source_key)["Body"].read() in sources
        assert f"/uploads/{job_id}/0.png?" in prediction["input"]["image"]
        assert prediction["input"]["image"] in fake_replicate.input_fetches

    # AND every prediction asked for a completed-only webhook to this API with its job id
    bodies = [b for b in fake_replicate.requests if b["webhook"].split("job_id=")[-1] in {j["id"] for j in listed}]
    assert len(bodies) == 3
    assert all(b["webhook_events_filter"] == ["completed"] for b in bodies)
    assert all(b["webhook"].startswith(f"{api}/v1/webhooks/replicate?job_id=") for b in bodies)


def test_json_base64_image_is_one_job(api, fake_replicate, s3, bucket):
    # GIVEN one image as base64 JSON with a model input override
    source = render(b"json source")
    body = {"image": base64.b64encode(source).decode(), "input": {"style": "anime"}}

    # WHEN it is posted
    response = requests.post(f"{api}/v1/images/edits", json=body, headers=JOB, timeout=30)

    # THEN one job succeeds, and Replicate got the override next to the image
    assert response.status_code == 202, response.text
    (listed,) = response.json()["jobs"]
    job = wait_for_job(api, listed["id"])
    assert job["status"] == "succeeded"
    prediction = fake_replicate.predictions[job_record(s3, bucket, listed["id"])["prediction_id"]]
    assert prediction["input"]["style"] == "anime"
    assert requests.get(job["images"][0]["url"], timeout=10).content == fake_replicate.outputs[prediction["output"]]


def test_image_url_is_passed_to_replicate_which_fetches_it(api, fake_replicate, s3, bucket):
    # GIVEN an image at a URL (the fake's file host stands in for an https site in local mode)
    source = render(b"remote")
    url = f"{fake_replicate.url}/delivery/remote0000/out-0.png"
    fake_replicate.outputs[url] = source

    # WHEN the URL is posted as a multipart field
    response = requests.post(f"{api}/v1/images/edits", files={"image_url": (None, url)}, headers=JOB, timeout=30)

    # THEN Replicate (not our function) fetched it, nothing was uploaded, and the job succeeds
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["id"]
    job = wait_for_job(api, job_id)
    assert job["status"] == "succeeded"
    record = job_record(s3, bucket, job_id)
    assert record["image_url"] == url and "upload_key" not in record
    assert fake_replicate.predictions[record["prediction_id"]]["input"]["image"] == url
    assert url in fake_replicate.input_fetches
    assert keys(s3, bucket, f"uploads/{job_id}/") == []


@pytest.mark.parametrize("behaviour", ["duplicate-webhook", "concurrent-webhooks"])
def test_a_repeated_webhook_stores_nothing_twice(api, fake_replicate, s3, bucket, behaviour):
    # GIVEN a prediction whose completed webhook Replicate delivers twice (one after the other, or at once)
    body = {"image": base64.b64encode(render(b"dup")).decode(), "input": {"fake": behaviour}}

    # WHEN the job runs
    response = requests.post(f"{api}/v1/images/edits", json=body, headers=JOB, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["id"]
    wait_for_job(api, job_id)
    prediction_id = job_record(s3, bucket, job_id)["prediction_id"]
    deliveries = wait_for_deliveries(fake_replicate, prediction_id, 2)

    # THEN both deliveries were answered 2xx, and the image is stored once and listed once
    assert [d["status"] for d in deliveries] == [200, 200]
    job = requests.get(f"{api}/v1/jobs/{job_id}", timeout=10).json()
    assert job["status"] == "succeeded"
    assert len(job["images"]) == 1
    assert len([key for key in keys(s3, bucket, "images/") if f"/{job_id}/" in key]) == 1


def test_a_failed_prediction_ends_failed_with_its_error(api, fake_replicate, s3, bucket):
    # GIVEN a prediction that fails on Replicate's side
    body = {"image": base64.b64encode(render(b"fail")).decode(), "input": {"fake": "fail"}}

    # WHEN the job runs
    response = requests.post(f"{api}/v1/images/edits", json=body, timeout=30)

    # THEN the job ends failed with the model's error and no image
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["id"]
    job = wait_for_job(api, job_id)
    assert job["status"] == "failed"
    assert "CUDA out of memory" in job["error"]
    assert job["images"] == []
    assert [key for key in keys(s3, bucket, "images/") if f"/{job_id}/" in key] == []


def test_a_rejected_prediction_is_a_failed_job_and_replicates_422(api, fake_replicate, s3, bucket):
    # GIVEN an input Replicate refuses (422 at create)
    body = {"image": base64.b64encode(render(b"reject")).decode(), "input": {"fake": "reject"}}

    # WHEN it is posted
    response = requests.post(f"{api}/v1/images/edits", json=body, timeout=30)

    # THEN the answer says so, and the job is recorded failed with the reason
    assert response.status_code == 422, response.text  # Replicate's 422: the input is the client's to fix
    payload = response.json()
    assert payload["error"]["code"] == "provider_rejected"
    (job,) = payload["jobs"]
    assert job["status"] == "failed" and "fake rejection" in job["error"]
    assert requests.get(f"{api}/v1/jobs/{job['id']}", timeout=10).json()["status"] == "failed"


def png_b64(data: bytes | None = None) -> str:
    return base64.b64encode(data or render(b"ok")).decode()


BAD_REQUESTS = [
    ("invalid_base64", 400, {"json": {"image": "not base64!!"}}),
    ("not_an_image", 400, {"json": {"image": base64.b64encode(b"%PDF-1.7 not an image").decode()}}),
    # Over Lambda's 6 MB event once base64-encoded: API Gateway's own answer, never reaching the function
    (
        "Request Too Long",
        413,
        {"files": {"image": ("big.png", render(b"x")[:16] + b"\0" * (5 * 1024 * 1024), "image/png")}},
    ),
    ("Request Too Long", 413, {"data": b"{" + b" " * (6 * 1024 * 1024 + 10) + b"}"}),
    ("missing_image", 400, {"json": {"input": {"style": "x"}}}),
    ("too_many_images", 400, {"files": [("image", (f"{i}.png", render(bytes([i])), "image/png")) for i in range(9)]}),
    ("invalid_image_url", 400, {"json": {"image_url": "http://example.com/a.png"}}),
    ("invalid_image_url", 400, {"json": {"image_url": "ftp://example.com/a.png"}}),
    (
        "invalid_multipart",
        400,
        {
            "data": b"--b\r\nContent-Disposition: form-data; name=image\r\n\r\nabc",
            "ctype": "multipart/form-data; boundary=b",
        },
    ),
    ("invalid_multipart", 400, {"data": b"abc", "ctype": "multipart/form-data"}),
    ("unsupported_media_type", 415, {"data": b"image bytes", "ctype": "image/png"}),
    ("model_not_allowed", 400, {"json": {"image": png_b64(), "model": "someone/expensive-model"}}),
    ("invalid_json", 400, {"data": b"{not json", "ctype": "application/json"}),
]


@pytest.mark.parametrize(
    ("code", "status", "request_kwargs"), BAD_REQUESTS, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(BAD_REQUESTS)]
)
def test_bad_requests_are_4xx_with_their_own_code_and_store_nothing(
    api, fake_replicate, s3, bucket, code, status, request_kwargs
):
    # GIVEN the bucket's uploads and jobs, and the predictions Replicate got so far
    before = (keys(s3, bucket, "uploads/"), keys(s3, bucket, "jobs/"), len(fake_replicate.requests))
    kwargs = dict(request_kwargs)
    headers = {"content-type": kwargs.pop("ctype")} if "ctype" in kwargs else {}

    # WHEN the bad request is posted
    response = requests.post(f"{api}/v1/images/edits", headers=headers, timeout=30, **kwargs)

    # THEN it is that 4xx with its own code, and nothing was stored or submitted
    assert response.status_code == status, response.text
    if code == "Request Too Long":
        assert response.json() == {"message": code}
    else:
        assert response.json()["error"]["code"] == code
    assert (keys(s3, bucket, "uploads/"), keys(s3, bucket, "jobs/"), len(fake_replicate.requests)) == before
