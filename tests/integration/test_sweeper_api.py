"""Jobs that never end, over HTTP: cancel through the local server, the sweeper on LocalStack + the fake Replicate."""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from imagegen.jobs import records, sweeper
from localdev.fake_replicate import render
from tests.integration.test_edit_api import wait_for_job


def later() -> datetime:
    """Ten minutes from now: past SWEEPER_AFTER_SECONDS (300 s) for the jobs a test just made."""
    return datetime.now(timezone.utc) + timedelta(minutes=10)


def submit(api: str, behaviour: str) -> str:
    body = {"image": base64.b64encode(render(behaviour.encode())).decode(), "input": {"fake": behaviour}}
    response = requests.post(f"{api}/v1/images/edits", json=body, headers={"prefer": "respond-async"}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["jobs"][0]["id"]


def wait_for_prediction(fake, job_id: str, status: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        prediction_id = records.get(job_id).get("prediction_id")
        prediction = fake.predictions.get(prediction_id or "", {})
        if prediction.get("status") == status:
            return prediction
        time.sleep(0.05)
    pytest.fail(f"the prediction of job {job_id} never became {status}")


def test_cancel_over_http_stops_the_prediction(api, fake_replicate, s3, bucket):
    # GIVEN a job whose model never finishes
    job_id = submit(api, "hang")
    prediction = wait_for_prediction(fake_replicate, job_id, "processing")
    # WHEN the client cancels it (twice)
    first = requests.post(f"{api}/v1/jobs/{job_id}/cancel", timeout=30)
    again = requests.post(f"{api}/v1/jobs/{job_id}/cancel", timeout=30)
    # THEN Replicate was told, the job is canceled, and the repeat is the same answer
    assert (first.status_code, first.json()["status"]) == (200, "canceled")
    assert (again.status_code, again.json()["status"]) == (200, "canceled")
    assert prediction["status"] == "canceled"
    assert job_id not in {found for found, _ in records.open_jobs()}


def test_cancel_of_a_finished_job_is_409(api, fake_replicate):
    job_id = submit(api, "ok")
    assert wait_for_job(api, job_id)["status"] == "succeeded"
    response = requests.post(f"{api}/v1/jobs/{job_id}/cancel", timeout=30)
    assert response.status_code == 409 and response.json()["error"]["code"] == "job_finished"


def test_the_sweeper_finishes_a_job_whose_webhook_never_came(api, fake_replicate, s3, bucket):
    # GIVEN a prediction that succeeds at Replicate, whose webhook never arrives
    job_id = submit(api, "no-webhook")
    prediction = wait_for_prediction(fake_replicate, job_id, "succeeded")
    assert records.get(job_id)["status"] == "queued"
    # WHEN the sweeper runs ten minutes later
    actions = sweeper.sweep(later())
    # THEN the job succeeded with Replicate's output stored in S3, and downloads
    assert actions.get("finished_succeeded", 0) >= 1, actions
    job = wait_for_job(api, job_id)
    assert job["status"] == "succeeded"
    expected = fake_replicate.outputs[prediction["output"]]
    assert requests.get(job["images"][0]["url"], timeout=10).content == expected


def test_the_sweeper_records_a_failed_prediction_whose_webhook_never_came(api, fake_replicate):
    job_id = submit(api, "no-webhook")
    prediction = wait_for_prediction(fake_replicate, job_id, "succeeded")
    prediction.update(status="failed", output=None, error="NSFW content detected")  # as Replicate reports it
    sweeper.sweep(later())
    job = wait_for_job(api, job_id)
    assert (job["status"], job["error"]) == ("failed", "NSFW content detected")
