"""No job stays open forever: open/ markers, the sweeper and cancel (moto S3/SSM, the fake Replicate's API).

The fake Replicate runs in accept-only mode here: a prediction stays where the test puts it, and
`GET /v1/predictions/{id}` and `POST /v1/predictions/{id}/cancel` answer in Replicate's format.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from imagegen import bucket
from imagegen.jobs import records, sweeper
from localdev.fake_replicate import FakeReplicate, render
from localdev.server import load_handler
from tests.conftest import FakeContext, load_event
from tests.unit.conftest import BUCKET

LATER = timedelta(minutes=10)  # past SWEEPER_AFTER_SECONDS (300), short of JOB_TIMEOUT_SECONDS (3600)


@pytest.fixture
def fake(aws, monkeypatch):
    server = FakeReplicate(deliver=False).start()
    boto3.client("ssm").put_parameter(Name="/t/token", Value=server.token, Type="SecureString")
    monkeypatch.setenv("REPLICATE_API_TOKEN_PARAM", "/t/token")
    monkeypatch.setenv("REPLICATE_BASE_URL", server.url)
    monkeypatch.setenv("REPLICATE_OUTPUT_HOSTS", server.netloc)
    monkeypatch.setenv("REPLICATE_ALLOW_HTTP_LOOPBACK", "1")
    for name in ("SWEEPER_AFTER_SECONDS", "JOB_TIMEOUT_SECONDS", "URL_EXPIRY_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.stop()


def submitted(fake: FakeReplicate, **prediction_changes) -> tuple[dict, dict]:
    """A queued Replicate job whose prediction the fake holds, changed as given."""
    prediction = fake.create("catacolabs/cartoonify", "v1", {"input": {"image": "https://example.com/a.png"}})
    fake.predictions[prediction["id"]].update(prediction_changes)
    job = records.new_job(bucket.new_job_id(), provider="replicate", model="catacolabs/cartoonify")
    job["prediction_id"] = prediction["id"]
    return records.create(job), fake.predictions[prediction["id"]]


def open_ids() -> set[str]:
    return {job_id for job_id, _ in records.open_jobs()}


def now() -> datetime:
    return datetime.now(timezone.utc)


def test_an_open_job_has_a_marker_until_it_ends(fake):
    # GIVEN a queued Replicate job and a finished sync one
    job, _ = submitted(fake)
    done = records.create(records.new_job(bucket.new_job_id(), provider="bedrock", model="m", status="succeeded"))
    # THEN only the open one is listed; WHEN it ends THEN its marker is gone
    assert open_ids() == {job["id"]}
    assert done["id"] not in open_ids()
    records.update(job["id"], lambda j: {**j, "status": "failed", "error": "x"})
    assert open_ids() == set()


def test_a_job_whose_webhook_never_came_is_finished_from_the_prediction(fake):
    # GIVEN a job whose prediction succeeded at Replicate, but no webhook ever arrived
    output = f"{fake.url}/delivery/p/out-0.png"
    fake.outputs[output] = render(b"lost webhook")
    job, _ = submitted(fake, status="succeeded", output=output, metrics={"predict_time": 3.2})
    # WHEN the sweeper runs ten minutes later
    actions = sweeper.sweep(now() + LATER)
    # THEN the job is finished through the webhook's path: the output stored, the marker gone
    assert actions == {"finished_succeeded": 1}
    stored = records.get(job["id"])
    assert stored["status"] == "succeeded"
    (image,) = stored["images"]
    data = boto3.client("s3").get_object(Bucket=BUCKET, Key=image["key"])["Body"].read()
    assert data == fake.outputs[output]
    assert open_ids() == set()


def test_a_failed_prediction_fails_the_job_with_replicates_error(fake):
    job, _ = submitted(fake, status="failed", error="CUDA out of memory")
    assert sweeper.sweep(now() + LATER) == {"finished_failed": 1}
    stored = records.get(job["id"])
    assert (stored["status"], stored["error"]) == ("failed", "CUDA out of memory")
    assert open_ids() == set()


def test_young_and_still_running_jobs_are_left_alone(fake):
    job, _ = submitted(fake, status="processing")
    assert sweeper.sweep(now()) == {"young": 1}
    assert sweeper.sweep(now() + LATER) == {"still_running": 1}
    assert records.get(job["id"])["status"] == "queued" and open_ids() == {job["id"]}


def test_a_job_running_past_the_timeout_is_canceled_at_replicate_and_failed(fake):
    job, prediction = submitted(fake, status="processing")
    assert sweeper.sweep(now() + timedelta(hours=2)) == {"timed_out": 1}
    stored = records.get(job["id"])
    assert stored["status"] == "failed" and stored["error_code"] == "timed_out"
    assert prediction["status"] == "canceled"  # it stopped billing
    assert open_ids() == set()


def test_a_job_whose_submit_never_recorded_the_prediction_is_failed(fake):
    job = records.create(records.new_job(bucket.new_job_id(), provider="replicate", model="m"))
    assert sweeper.sweep(now()) == {"young": 1}  # the submit may still be writing it
    assert sweeper.sweep(now() + LATER) == {"failed_unsubmitted": 1}
    assert records.get(job["id"])["error_code"] == "submit_lost"


def test_unreachable_outputs_are_left_for_the_next_pass(fake):
    job, _ = submitted(fake, status="succeeded", output="http://127.0.0.1:9/gone.png")
    fake_hosts = f"{fake.netloc},127.0.0.1:9"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPLICATE_OUTPUT_HOSTS", fake_hosts)
        assert sweeper.sweep(now() + LATER) == {"retry_later": 1}
    assert records.get(job["id"])["status"] == "queued" and open_ids() == {job["id"]}


def test_stale_markers_are_removed(fake):
    job, _ = submitted(fake)
    records.update(job["id"], lambda j: {**j, "status": "canceled"})
    boto3.client("s3").put_object(Bucket=BUCKET, Key=records.open_key(job["id"]), Body=b"")  # a lost removal
    orphan = bucket.new_job_id()
    boto3.client("s3").put_object(Bucket=BUCKET, Key=records.open_key(orphan), Body=b"")  # its record expired
    assert sweeper.sweep(now() + LATER) == {"closed_marker": 1, "orphan_marker": 1}
    assert open_ids() == set()


# -- POST /v1/jobs/{id}/cancel -------------------------------------------------------------------


def cancel_event(job_id: str) -> dict:
    event = load_event("get_job")
    path = f"/v1/jobs/{job_id}/cancel"
    event.update(routeKey="POST /v1/jobs/{id}/cancel", rawPath=path, pathParameters={"id": job_id})
    event["requestContext"].update(routeKey="POST /v1/jobs/{id}/cancel")
    event["requestContext"]["http"].update(method="POST", path=path)
    return event


def call_cancel(job_id: str) -> tuple[int, dict]:
    response = load_handler("cancel_job")(cancel_event(job_id), FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_cancel_stops_the_prediction_and_marks_the_job_canceled_idempotently(fake):
    job, prediction = submitted(fake, status="processing")
    status, body = call_cancel(job["id"])
    assert (status, body["status"]) == (200, "canceled")
    assert prediction["status"] == "canceled"
    assert records.get(job["id"])["status"] == "canceled" and open_ids() == set()
    assert call_cancel(job["id"]) == (200, body | {"updated_at": body["updated_at"], "images": []})


def test_cancel_of_a_finished_job_is_409_and_of_an_unknown_one_404(fake):
    job, prediction = submitted(fake, status="succeeded")
    records.update(job["id"], lambda j: {**j, "status": "succeeded"})
    status, body = call_cancel(job["id"])
    assert (status, body["error"]["code"]) == (409, "job_finished")
    assert prediction["status"] == "succeeded"  # nothing was sent to Replicate
    assert call_cancel(bucket.new_job_id())[0] == 404
    assert call_cancel("not-a-job")[0] == 404


def test_an_aborted_prediction_fails_the_job_saying_why(fake):
    # GIVEN a prediction Replicate aborted: its deadline (our Cancel-After) passed before it started
    job, _ = submitted(fake, status="aborted", completed_at="2026-12-01T00:00:00Z")
    # WHEN the sweeper reads it THEN the job ends failed, with the reason, and is closed
    assert sweeper.sweep(now() + LATER) == {"finished_failed": 1}
    stored = records.get(job["id"])
    assert stored["status"] == "failed" and stored["error_code"] == "aborted"
    assert "deadline" in stored["error"] and open_ids() == set()


def test_outputs_replicate_already_removed_fail_the_job_and_are_never_retried(fake):
    # GIVEN a prediction that succeeded an hour ago: Replicate removed its output (data_removed)
    job, _ = submitted(fake, status="succeeded", output=None, data_removed=True)
    # WHEN the sweeper reads it THEN the job fails with that reason; the next pass has nothing left to do
    assert sweeper.sweep(now() + LATER) == {"failed_output": 1}
    stored = records.get(job["id"])
    assert stored["status"] == "failed" and stored["error_code"] == "output_removed"
    assert "data_removed" in stored["error"]
    assert sweeper.sweep(now() + LATER) == {} and open_ids() == set()


def test_past_the_timeout_a_job_ends_whatever_replicate_says(fake):
    # GIVEN a job whose prediction Replicate no longer knows (404), and one whose outputs keep failing
    gone, _ = submitted(fake)
    del fake.predictions[gone["prediction_id"]]
    stuck, _ = submitted(fake, status="succeeded", output="http://127.0.0.1:9/gone.png")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPLICATE_OUTPUT_HOSTS", f"{fake.netloc},127.0.0.1:9")
        # WHEN the sweeper runs before the timeout THEN both are left for later
        assert sweeper.sweep(now() + LATER) == {"error": 1, "retry_later": 1}
        # AND past it, both end as timed out, and their markers are gone
        assert sweeper.sweep(now() + timedelta(hours=2)) == {"timed_out": 2}
    for job in (gone, stuck):
        stored = records.get(job["id"])
        assert stored["status"] == "failed" and stored["error_code"] == "timed_out"
    assert open_ids() == set()


def test_predictions_are_created_with_the_job_timeout_as_their_deadline(fake, monkeypatch):
    from imagegen.jobs import later
    from imagegen.providers import replicate as predictions

    monkeypatch.setenv("JOB_TIMEOUT_SECONDS", "900")
    predictions._client.cache_clear()
    job = records.create(records.new_job(bucket.new_job_id(), provider="replicate", model="catacolabs/cartoonify"))
    from imagegen import catalog

    ref = "catacolabs/cartoonify:v1"
    later.submit(catalog.get("cartoonify"), ref, {"image": "https://example.com/a.png"}, job["id"], "https://x/h")
    assert fake.cancel_afters == ["900s"]
    (prediction,) = fake.predictions.values()
    assert prediction["deadline"].endswith("Z")
    predictions._client.cache_clear()
