"""POST /v1/webhooks/replicate over HTTP: only correctly signed, fresh webhooks for our jobs change anything."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from localdev.fake_replicate import new_secret, render, signed_headers

pytestmark = pytest.mark.integration

DEADLINE_SECONDS = 15


def keys(s3, bucket: str, prefix: str) -> list[str]:
    return sorted(obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def record(s3, bucket: str, job_id: str) -> tuple[dict, str]:
    obj = s3.get_object(Bucket=bucket, Key=f"jobs/{job_id}.json")
    return json.loads(obj["Body"].read()), obj["ETag"]


def finished_job(api, fake, s3, bucket) -> tuple[dict, dict]:
    """A job that went the whole way (edit -> webhook -> stored): its record and the prediction."""
    body = {"image": base64.b64encode(render(b"webhook tests")).decode()}
    response = requests.post(f"{api}/v1/images/edits", json=body, headers={"prefer": "respond-async"}, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["id"]
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (job := record(s3, bucket, job_id)[0])["status"] != "succeeded":
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not finish: {job}")
        time.sleep(0.05)
    return job, fake.predictions[job["prediction_id"]]


def pending_job(api, fake, s3, bucket, monkeypatch) -> tuple[dict, str]:
    """A submitted job whose webhook the fake does not send (the test sends its own)."""
    monkeypatch.setattr(fake, "deliver", False)
    body = {"image": base64.b64encode(render(b"pending")).decode()}
    response = requests.post(f"{api}/v1/images/edits", json=body, headers={"prefer": "respond-async"}, timeout=30)
    assert response.status_code == 202, response.text
    job, _ = record(s3, bucket, response.json()["jobs"][0]["id"])
    assert job["status"] == "queued" and job["prediction_id"]
    return job, f"{api}/v1/webhooks/replicate?job_id={job['id']}"


def succeeded(fake, prediction_id: str, output) -> str:
    return json.dumps({"id": prediction_id, "status": "succeeded", "output": output, "error": None, "metrics": {}})


def post(url: str, payload: str, headers: dict) -> requests.Response:
    return requests.post(url, data=payload.encode(), headers=headers, timeout=30)


def test_a_replayed_webhook_is_acknowledged_and_changes_nothing(api, fake_replicate, s3, bucket):
    # GIVEN a finished job and the exact webhook that finished it, replayed within the tolerance
    job, prediction = finished_job(api, fake_replicate, s3, bucket)
    _, etag = record(s3, bucket, job["id"])
    images_before = keys(s3, bucket, "images/")
    payload = json.dumps(prediction)
    url = f"{api}/v1/webhooks/replicate?job_id={job['id']}"

    # WHEN it arrives again with a valid signature
    response = post(url, payload, signed_headers(fake_replicate.secret, payload))

    # THEN it is a 2xx that says duplicate, and neither the record nor the images changed
    assert response.status_code == 200, response.text
    assert response.json() == {"id": job["id"], "status": "succeeded", "duplicate": True}
    assert record(s3, bucket, job["id"])[1] == etag
    assert keys(s3, bucket, "images/") == images_before


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unsigned", "missing_signature"),
        ("wrong secret", "invalid_signature"),
        ("tampered body", "invalid_signature"),
        ("stale", "stale_webhook"),
        ("from the future", "stale_webhook"),
    ],
)
def test_forged_or_stale_webhooks_are_401_and_write_nothing(api, fake_replicate, s3, bucket, monkeypatch, case, code):
    # GIVEN a job waiting for its webhook, and a webhook that is not genuine or not fresh
    job, url = pending_job(api, fake_replicate, s3, bucket, monkeypatch)
    _, etag = record(s3, bucket, job["id"])
    output = f"{fake_replicate.url}/delivery/forged/out-0.png"
    fake_replicate.outputs[output] = render(b"forged")
    payload = succeeded(fake_replicate, job["prediction_id"], output)
    secret, sent_at = fake_replicate.secret, int(time.time())
    if case == "wrong secret":
        secret = new_secret()
    if case == "stale":
        sent_at -= 301
    if case == "from the future":
        sent_at += 301
    headers = signed_headers(secret, payload, timestamp=sent_at)
    if case == "unsigned":
        headers = {"content-type": "application/json"}
    if case == "tampered body":
        payload = payload.replace('"succeeded"', '"failed"')

    # WHEN it is posted to the webhook route
    response = post(url, payload, headers)

    # THEN it is a 401 with its own code, and the job and the bucket are untouched
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == code
    assert record(s3, bucket, job["id"])[1] == etag
    assert [k for k in keys(s3, bucket, "images/") if f"/{job['id']}/" in k] == []


def test_unknown_job_and_mismatched_prediction_are_400(api, fake_replicate, s3, bucket, monkeypatch):
    # GIVEN a waiting job, and signed webhooks naming a job we never made or another prediction
    job, url = pending_job(api, fake_replicate, s3, bucket, monkeypatch)
    _, etag = record(s3, bucket, job["id"])
    output = f"{fake_replicate.url}/delivery/x/out-0.png"
    unknown = f"{api}/v1/webhooks/replicate?job_id={'0' * 32}"
    mine = succeeded(fake_replicate, job["prediction_id"], output)
    other = succeeded(fake_replicate, "someoneelsesprediction0000", output)

    # WHEN they are posted
    unknown_response = post(unknown, mine, signed_headers(fake_replicate.secret, mine))
    mismatch_response = post(url, other, signed_headers(fake_replicate.secret, other))

    # THEN each is a 400 with its own code and the job is unchanged
    assert (unknown_response.status_code, unknown_response.json()["error"]["code"]) == (400, "unknown_job")
    assert (mismatch_response.status_code, mismatch_response.json()["error"]["code"]) == (400, "prediction_mismatch")
    assert record(s3, bucket, job["id"])[1] == etag


@pytest.mark.parametrize(
    "output",
    [
        "https://evil.example.com/out-0.png",
        "http://replicate.delivery/out-0.png",
        "file:///etc/passwd",
        ["{fake}/delivery/ok/out-0.png", "https://169.254.169.254/latest/meta-data/"],
    ],
)
def test_output_urls_off_the_allowlist_are_refused_and_nothing_is_fetched(
    api, fake_replicate, s3, bucket, monkeypatch, output
):
    # GIVEN a waiting job and a genuine-looking signed webhook whose output points off the allowlist
    job, url = pending_job(api, fake_replicate, s3, bucket, monkeypatch)
    if isinstance(output, list):
        output = [item.replace("{fake}", fake_replicate.url) for item in output]
        fake_replicate.outputs[output[0]] = render(b"allowed one")
    payload = succeeded(fake_replicate, job["prediction_id"], output)

    # WHEN it is posted
    response = post(url, payload, signed_headers(fake_replicate.secret, payload))

    # THEN it is a 400, no image is stored (not even the allowed one), and the job says why it failed
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "output_url_not_allowed"
    assert [k for k in keys(s3, bucket, "images/") if f"/{job['id']}/" in k] == []
    stored, _ = record(s3, bucket, job["id"])
    assert stored["status"] == "failed" and "allowed host" in stored["error"]


def test_an_aborted_prediction_ends_its_job_failed_through_the_webhook(api, fake_replicate, s3, bucket):
    # GIVEN an edit whose prediction waits in Replicate's queue past its deadline (our Cancel-After)
    body = {"image": base64.b64encode(render(b"aborted")).decode(), "input": {"fake": "queued-past-deadline"}}
    response = requests.post(f"{api}/v1/images/edits", json=body, timeout=30)
    assert response.status_code == 202, response.text
    job_id = response.json()["jobs"][0]["id"]
    # WHEN Replicate delivers the `aborted` prediction
    deadline = time.monotonic() + DEADLINE_SECONDS
    while (job := record(s3, bucket, job_id)[0])["status"] == "queued":
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} did not end: {job}")
        time.sleep(0.05)
    # THEN the job is failed, saying why, and the delivery was acknowledged (no retries)
    assert job["status"] == "failed" and job["error_code"] == "aborted" and "deadline" in job["error"]
    while not (deliveries := fake_replicate.deliveries_for(job["prediction_id"])):  # recorded once answered
        assert time.monotonic() < deadline, "the delivery was never answered"
        time.sleep(0.05)
    assert [d["status"] for d in deliveries] == [200]
    # AND the prediction was created with the job timeout as its deadline
    assert fake_replicate.cancel_afters[-1] == "3600s"
