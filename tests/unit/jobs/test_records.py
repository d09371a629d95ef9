"""Job records in S3: conditional create, forward-only updates, the public view."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from imagegen import bucket
from imagegen.jobs import records as jobs
from tests.conftest import FakeContext, load_event


def make_job(**fields):
    return jobs.create(jobs.new_job(bucket.new_job_id(), provider="replicate", model="owner/model", **fields))


def test_create_never_overwrites(aws):
    job = make_job(prompt="first")
    with pytest.raises(ClientError) as err:
        jobs.create({**job, "prompt": "second"})
    assert err.value.response["Error"]["Code"] == "PreconditionFailed"
    assert jobs.get(job["id"])["prompt"] == "first"


def test_status_only_moves_forward(aws):
    job = make_job()
    jobs.update(job["id"], lambda j: {**j, "status": "running"})
    done = jobs.update(job["id"], lambda j: {**j, "status": "succeeded", "images": [{"key": "k"}]})
    assert done["status"] == "succeeded"
    # A late "running" or "failed" webhook changes nothing.
    assert jobs.update(job["id"], lambda j: {**j, "status": "running"})["status"] == "succeeded"
    assert jobs.update(job["id"], lambda j: {**j, "status": "failed", "error": "late"})["error"] is None
    assert jobs.get(job["id"])["images"] == [{"key": "k"}]


def test_a_write_between_our_read_and_our_put_is_not_lost(aws, monkeypatch):
    """If-Match: another writer lands between our read and our put; our put is refused (412) and the
    update runs again on the fresh record, so both writes are there. (Deterministic: moto's in-process
    conditional writes are not atomic, so racing real threads against it tested moto, and flaked.)"""
    job = make_job()
    real_read, interleaved = jobs.read, []

    def read_then_another_writer_lands(job_id):
        record, etag = real_read(job_id)
        if not interleaved:
            interleaved.append(etag)
            jobs.update(job_id, lambda j: {**j, "images": [*j["images"], {"key": "theirs"}]})
        return record, etag

    monkeypatch.setattr(jobs, "read", read_then_another_writer_lands)
    seen = []

    def ours(record):
        seen.append([image["key"] for image in record["images"]])
        return {**record, "images": [*record["images"], {"key": "ours"}]}

    jobs.update(job["id"], ours)
    assert seen == [[], ["theirs"]]  # the first attempt's put was refused; the second saw their write
    assert [image["key"] for image in jobs.get(job["id"])["images"]] == ["theirs", "ours"]


def conflicting_once(monkeypatch, times: int = 1) -> list[str]:
    """S3 answers the next `times` conditional puts 409 ConditionalRequestConflict (another conditional
    write to the key was in flight), then as usual; returns the keys it refused."""
    from botocore.exceptions import ClientError

    from imagegen import aws

    client = aws.client("s3")
    real, refused = client.put_object, []

    def put_object(**kwargs):
        if ("IfMatch" in kwargs or "IfNoneMatch" in kwargs) and len(refused) < times:
            refused.append(kwargs["Key"])
            error = {"Code": "ConditionalRequestConflict", "Message": "A conflicting operation occurred."}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 409}}, "PutObject")
        return real(**kwargs)

    monkeypatch.setattr(client, "put_object", put_object)
    return refused


def test_an_update_s3_answers_409_is_made_again_and_lands(aws, monkeypatch):
    job = make_job()
    refused = conflicting_once(monkeypatch)
    jobs.update(job["id"], lambda j: {**j, "status": "running"})
    assert refused == [f"jobs/{job['id']}.json"] and jobs.get(job["id"])["status"] == "running"


def test_a_new_object_s3_answers_409_is_asked_again_and_a_412_after_it_means_it_exists(aws, monkeypatch):
    refused = conflicting_once(monkeypatch)
    assert bucket.put_new("uploads/x/0.png", b"one", "image/png") is True  # 409, then written
    assert refused == ["uploads/x/0.png"]
    refused = conflicting_once(monkeypatch)
    assert bucket.put_new("uploads/x/0.png", b"two", "image/png") is False  # 409, then 412: it exists
    assert bucket.read("uploads/x/0.png") == b"one"
    conflicting_once(monkeypatch, times=10)
    with pytest.raises(Exception, match="ConditionalRequestConflict"):  # it never settles: an error, not "exists"
        bucket.put_new("uploads/y/0.png", b"three", "image/png")


def test_unknown_job_is_job_not_found(aws):
    with pytest.raises(jobs.JobNotFound):
        jobs.get(bucket.new_job_id())


def test_put_new_refuses_existing_key(aws):
    assert bucket.put_new("images/x/0.png", b"one", "image/png") is True
    assert bucket.put_new("images/x/0.png", b"two", "image/png") is False
    body = boto3.client("s3").get_object(Bucket="imagegen-unit", Key="images/x/0.png")["Body"].read()
    assert body == b"one"


def test_image_keys_are_unique_and_dated():
    from datetime import datetime, timezone

    when = datetime(2026, 11, 23, tzinfo=timezone.utc)
    ids = {bucket.new_job_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(bucket.is_job_id(i) for i in ids)
    key = bucket.image_key("ab" * 16, 2, "image/jpeg", when)
    assert key == f"images/2026/11/23/{'ab' * 16}/2.jpg"


def test_get_job_handler_shows_status_and_presigned_urls(aws, monkeypatch):
    # GIVEN a finished job with one image
    from localdev.server import load_handler

    monkeypatch.setenv("URL_EXPIRY_SECONDS", "120")
    job = make_job(prompt="a cat")
    bucket.put_new("images/2026/11/23/x/0.png", b"\x89PNG\r\n\x1a\n", "image/png")
    jobs.update(
        job["id"],
        lambda j: {
            **j,
            "status": "succeeded",
            "images": [{"key": "images/2026/11/23/x/0.png", "content_type": "image/png"}],
        },
    )
    handler = load_handler("get_job")
    # WHEN GET /v1/jobs/{id} is called
    event = load_event("get_job", pathParameters={"id": job["id"]})
    response = handler(event, FakeContext())
    # THEN it shows the job and a presigned URL for the image
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["id"] == job["id"] and body["status"] == "succeeded" and body["prompt"] == "a cat"
    [image] = body["images"]
    assert image["key"] == "images/2026/11/23/x/0.png"
    assert "X-Amz-Signature=" in image["url"] and "X-Amz-Expires=120" in image["url"]
    assert body["links"] == {"self": f"/v1/jobs/{job['id']}"}


@pytest.mark.parametrize("job_id", ["nope", "../../etc/passwd", "0" * 31, "G" * 32])
def test_get_job_handler_404s_malformed_ids(aws, job_id):
    from localdev.server import load_handler

    response = load_handler("get_job")(load_event("get_job", pathParameters={"id": job_id}), FakeContext())
    assert response["statusCode"] == 404
    assert json.loads(response["body"])["error"]["code"] == "job_not_found"
