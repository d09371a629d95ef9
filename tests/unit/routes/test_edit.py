"""The edit function: request forms, allowlist, job records, concurrent submits, failures.

moto for S3 and SSM; the fake Replicate (accepting predictions, running none) over loopback HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging

import boto3
import pytest

from imagegen import catalog
from imagegen.api.events import parse_event
from imagegen.routes import edit as edits
from localdev.fake_replicate import FakeReplicate, render
from localdev.server import load_handler
from tests.conftest import FakeContext, load_event
from tests.unit.conftest import BUCKET


@pytest.fixture
def fake(aws, monkeypatch):
    """A fake Replicate that accepts predictions (and runs nothing), its token in moto SSM."""
    server = FakeReplicate(deliver=False).start()
    boto3.client("ssm").put_parameter(Name="/t/replicate-token", Value=server.token, Type="SecureString")
    monkeypatch.setenv("REPLICATE_API_TOKEN_PARAM", "/t/replicate-token")
    monkeypatch.setenv("REPLICATE_BASE_URL", server.url)
    monkeypatch.setenv("REPLICATE_EDIT_INPUTS", '{"catacolabs/cartoonify": ["style"]}')
    for name in ("PUBLIC_BASE_URL", "EDIT_MODELS", "IMAGEGEN_REPLICATE_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    yield server
    server.stop()


@pytest.fixture
def edit():
    """The edit handler, called as a client that follows jobs calls it: `Prefer: respond-async` (the
    fake Replicate here never finishes a prediction on its own; the default wait is tested with the
    openai SDK against make serve, tests/integration/test_openai_sdk.py)."""
    handler = load_handler("edit")

    def call(event, context=None):
        headers = event.setdefault("headers", {})
        if not any(name.lower() == "prefer" for name in headers):
            headers["prefer"] = "respond-async"
        return handler(event, context)

    return call


def s3_json(key: str) -> dict:
    return json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())


def s3_keys(prefix: str = "") -> list[str]:
    return sorted(
        o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    )


def json_event(body: dict) -> dict:
    return load_event("edit_json", body=json.dumps(body))


def test_json_image_is_uploaded_and_submitted_with_a_webhook(fake, edit):
    # GIVEN the JSON edit event (one base64 PNG and an input override)
    event = load_event("edit_json")
    source = base64.b64decode(json.loads(event["body"])["image"])

    # WHEN the function runs
    response = edit(event, FakeContext())

    # THEN it answers 202 with one queued job
    assert response["statusCode"] == 202, response["body"]
    (job,) = json.loads(response["body"])["jobs"]
    assert job == {"id": job["id"], "status": "queued", "links": {"self": f"/v1/jobs/{job['id']}"}}
    # AND the source is in uploads/, the job record has the prediction id
    assert boto3.client("s3").get_object(Bucket=BUCKET, Key=f"uploads/{job['id']}/0.png")["Body"].read() == source
    record = s3_json(f"jobs/{job['id']}.json")
    assert record["provider"] == "replicate" and record["model"] == catalog.get("cartoonify").ref
    assert record["prediction_id"] in fake.predictions and "offline" not in record
    # AND Replicate got the pinned version (a community model has no unversioned route), a presigned
    # upload URL, the override and a completed-only webhook
    (body,) = fake.requests
    assert body["version"] == "f109015d60170dfb20460f17da8cb863155823c85ece1115e1e9e4ec7ef51d3b"
    assert body["input"]["style"] == "comic"
    assert f"/uploads/{job['id']}/0.png?" in body["input"]["image"] and "X-Amz-Signature=" in body["input"]["image"]
    assert body["webhook"] == (
        f"https://abc123.execute-api.us-east-1.amazonaws.com/v1/webhooks/replicate?job_id={job['id']}"
    )
    assert body["webhook_events_filter"] == ["completed"]


def test_multipart_files_and_urls_are_one_job_each_and_the_stage_is_in_the_webhook(fake, edit):
    # GIVEN the multipart event (two file parts and one image_url, base64-encoded by API Gateway, stage prod)
    event = load_event("edit_multipart")

    # WHEN the function runs
    response = edit(event, FakeContext())

    # THEN there are three jobs; the files were uploaded, the URL passed to Replicate as it is
    assert response["statusCode"] == 202, response["body"]
    jobs = json.loads(response["body"])["jobs"]
    assert len(jobs) == 3
    assert len(s3_keys("uploads/")) == 2
    images = sorted(body["input"]["image"] for body in fake.requests)
    assert "https://example.com/cat.jpg" in images
    assert all(
        body["webhook"].startswith(
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/v1/webhooks/replicate?job_id="
        )
        for body in fake.requests
    )
    assert {body["webhook"].split("job_id=")[1] for body in fake.requests} == {job["id"] for job in jobs}


def test_public_base_url_replaces_the_request_domain(fake, edit, monkeypatch):
    # GIVEN a configured public base URL (a tunnel to a local server)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://tunnel.example.net/")

    # WHEN an edit is submitted
    response = edit(load_event("edit_json"), FakeContext())

    # THEN Replicate calls back through it
    assert response["statusCode"] == 202
    assert fake.requests[0]["webhook"].startswith("https://tunnel.example.net/v1/webhooks/replicate?job_id=")


def test_several_images_are_submitted_concurrently(fake, edit):
    # GIVEN a Replicate that takes a moment to accept each prediction, and four images
    fake.create_delay = 0.3
    encoded = [base64.b64encode(render(bytes([i]))).decode() for i in range(4)]

    # WHEN they are posted together
    response = edit(json_event({"image": encoded}), FakeContext())

    # THEN every one was accepted and more than one create was in flight at the same time
    assert response["statusCode"] == 202
    assert len(json.loads(response["body"])["jobs"]) == 4
    assert fake.max_in_flight > 1


def test_each_image_is_uploaded_once_for_its_n_jobs_and_at_most_four_are_submitted_at_once(fake, edit):
    # GIVEN two images, n=3 (six predictions), and a Replicate that takes a moment to accept each
    fake.create_delay = 0.2
    encoded = [base64.b64encode(render(bytes([i]))).decode() for i in range(2)]

    # WHEN they are posted together
    response = edit(json_event({"image": encoded, "n": 3}), FakeContext())

    # THEN six jobs, but each source was uploaded once and all three of its jobs fetch that one copy
    assert response["statusCode"] == 202, response["body"]
    assert len(json.loads(response["body"])["jobs"]) == 6
    uploads = s3_keys("uploads/")
    assert len(uploads) == 2, uploads
    fetched = [body["input"]["image"].split("?")[0].rsplit("/uploads/", 1)[1] for body in fake.requests]
    assert sorted(fetched) == sorted(key.removeprefix("uploads/") for key in uploads for _ in range(3))
    # AND never more than four predictions were being created at once, yet more than one
    assert 1 < fake.max_in_flight <= 4


def test_an_official_model_is_called_by_name_and_a_community_model_by_its_pinned_version(fake, edit, monkeypatch):
    # GIVEN a deployment with the default cartoonify (community, pinned) and FLUX Kontext (official)
    monkeypatch.setenv("EDIT_MODELS", "cartoonify,flux-kontext-pro")
    image = base64.b64encode(render(b"m")).decode()

    # WHEN one request uses the default and one picks FLUX Kontext by its catalog name
    first = edit(json_event({"image": image}), FakeContext())
    second = edit(json_event({"image": image, "model": "flux-kontext-pro", "prompt": "a hat"}), FakeContext())

    # THEN cartoonify went by its version, FLUX Kontext by name, each with its own input names
    assert first["statusCode"] == second["statusCode"] == 202, second["body"]
    assert fake.requests[0]["version"] == catalog.get("cartoonify").version
    assert "version" not in fake.requests[1] and fake.requests[1]["input"]["prompt"] == "a hat"
    assert fake.requests[1]["input"]["input_image"].startswith("http")
    job_id = json.loads(second["body"])["jobs"][0]["id"]
    assert s3_json(f"jobs/{job_id}.json")["model"] == "black-forest-labs/flux-kontext-pro"


def test_a_model_off_the_allowlist_is_400_and_nothing_is_written(fake, edit):
    # GIVEN a request for a model nobody allowed
    image = base64.b64encode(render(b"m")).decode()

    # WHEN it is posted
    response = edit(json_event({"image": image, "model": "someone/costly"}), FakeContext())

    # THEN it is a 400 model_not_allowed, and nothing reached S3 or Replicate
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "model_not_allowed"
    assert s3_keys() == [] and fake.requests == []


def test_one_rejected_image_fails_its_job_and_the_others_go_ahead(fake, edit, monkeypatch):
    # GIVEN a Replicate that refuses the second of three predictions
    from replicate.exceptions import ReplicateError

    from imagegen.providers import replicate as predictions

    real_submit = predictions.submit

    def submit(model_ref, input, webhook):
        if input["image"] == "https://example.com/1.png":
            raise ReplicateError(status=422, title="Input validation failed", detail="image: unreadable")
        return real_submit(model_ref, input, webhook)

    monkeypatch.setattr(predictions, "submit", submit)
    urls = [f"https://example.com/{i}.png" for i in range(3)]

    # WHEN all three are posted
    response = edit(json_event({"image_url": urls}), FakeContext())

    # THEN the answer is 202 and says which job failed and why; its record is failed too
    assert response["statusCode"] == 202
    jobs = json.loads(response["body"])["jobs"]
    assert [job["status"] for job in jobs] == ["queued", "failed", "queued"]
    assert "image: unreadable" in jobs[1]["error"]
    assert s3_json(f"jobs/{jobs[1]['id']}.json")["status"] == "failed"
    assert len(fake.requests) == 2


def test_an_unversioned_community_model_is_refused_as_replicate_refuses_it(fake, edit, monkeypatch):
    # GIVEN cartoonify (a community model) without its version: Replicate then gets
    # POST /v1/models/catacolabs/cartoonify/predictions, which it serves for official models only
    unpinned = dataclasses.replace(catalog.get("cartoonify"), version=None)
    monkeypatch.setitem(catalog.models(), "cartoonify", unpinned)

    # WHEN an edit is posted
    response = edit(load_event("edit_json"), FakeContext())

    # THEN Replicate's 404 reaches the client as a refusal and the job is failed, not left queued
    assert response["statusCode"] == 502, response["body"]
    payload = json.loads(response["body"])
    assert payload["error"]["code"] == "provider_rejected" and "404" in payload["error"]["message"]
    assert s3_json(f"jobs/{payload['jobs'][0]['id']}.json")["status"] == "failed"
    assert fake.requests == []  # nothing was created


def test_every_community_model_in_the_catalog_is_pinned():
    for model in catalog.models().values():
        if model.provider == "replicate" and not model.official:
            assert model.version and len(model.version) == 64, model.name


def test_unreachable_replicate_is_503_and_the_job_is_failed(fake, edit, monkeypatch):
    # GIVEN nothing listening where Replicate should be
    closed = FakeReplicate()
    closed_url = closed.url
    closed.server_close()
    monkeypatch.setenv("REPLICATE_BASE_URL", closed_url)

    # WHEN an edit is posted
    response = edit(load_event("edit_json"), FakeContext())

    # THEN it is a 503 provider_unavailable with the job recorded failed (nothing left queued)
    assert response["statusCode"] == 503
    payload = json.loads(response["body"])
    assert payload["error"]["code"] == "provider_unavailable"
    assert s3_json(f"jobs/{payload['jobs'][0]['id']}.json")["status"] == "failed"


def test_without_the_token_nothing_is_written(fake, edit, monkeypatch):
    # GIVEN a token parameter that does not exist
    monkeypatch.setenv("REPLICATE_API_TOKEN_PARAM", "/t/missing")

    # WHEN an edit is posted
    response = edit(load_event("edit_json"), FakeContext())

    # THEN it is a 503 not_configured and the bucket is empty
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "not_configured"
    assert s3_keys() == []


def test_offline_mode_marks_jobs_and_response(fake, edit, monkeypatch):
    # GIVEN make serve's offline flag (the fake Replicate)
    monkeypatch.setenv("IMAGEGEN_REPLICATE_OFFLINE", "1")

    # WHEN an edit is posted
    response = edit(load_event("edit_json"), FakeContext())

    # THEN the response and the job record say the provider is offline
    payload = json.loads(response["body"])
    assert payload["offline"] is True
    assert s3_json(f"jobs/{payload['jobs'][0]['id']}.json")["offline"] is True


def test_the_token_is_never_logged_and_only_sent_to_replicate(fake, edit, caplog):
    # GIVEN debug logging of our own code (botocore's wire-level DEBUG is never enabled in Lambda)
    caplog.set_level(logging.DEBUG, logger="imagegen")

    # WHEN an edit is submitted
    edit(load_event("edit_json"), FakeContext())

    # THEN the token appears in no log line, and the prediction request carried it
    assert caplog.records
    assert all(fake.token not in record.getMessage() for record in caplog.records)
    assert fake.predictions


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image": "@@@"}, 400, "invalid_base64"),
        ({"image": base64.b64encode(b"GIF88a nope").decode()}, 400, "not_an_image"),
        ({}, 400, "missing_image"),
        ({"image_url": ["https://example.com/a.png"] * 9}, 400, "too_many_images"),
        ({"image_url": "http://example.com/a.png"}, 400, "invalid_image_url"),
        ({"image_url": "https://user:pw@example.com/a.png"}, 400, "invalid_image_url"),
        ({"image_url": "https://example.com/a.png", "input": {"image": "x"}}, 400, "invalid_input"),
        ({"image_url": "https://example.com/a.png", "input": ["x"]}, 400, "invalid_input"),
        ({"image_url": "https://example.com/a.png", "style": "x"}, 400, "unknown_field"),
        ({"image_url": "https://example.com/a.png", "n": 0}, 400, "invalid_parameter"),
        ({"image_url": "https://example.com/a.png", "model": 7}, 400, "invalid_model"),
    ],
)
def test_bad_json_requests(fake, edit, body, status, code):
    # GIVEN a bad JSON body; WHEN it is posted
    response = edit(json_event(body), FakeContext())

    # THEN it is that 4xx with its code and nothing is written or submitted
    assert response["statusCode"] == status, response["body"]
    assert json.loads(response["body"])["error"]["code"] == code
    assert s3_keys() == [] and fake.requests == []


def test_http_image_url_to_loopback_needs_the_local_flag(fake, monkeypatch):
    # GIVEN a loopback http URL (the fake's file host in tests and make serve)

    request = parse_event(json_event({"image_url": "http://127.0.0.1:9/a.png"}))

    # WHEN it is parsed without and with REPLICATE_ALLOW_HTTP_LOOPBACK
    with pytest.raises(Exception) as refused:
        edits.parse(request)
    monkeypatch.setenv("REPLICATE_ALLOW_HTTP_LOOPBACK", "1")
    order = edits.parse(request)

    # THEN only the flag lets it through, and it never lets a non-loopback http URL through
    assert refused.value.code == "invalid_image_url"
    assert order.sources[0].url == "http://127.0.0.1:9/a.png"
    with pytest.raises(Exception) as still:
        edits.parse(parse_event(json_event({"image_url": "http://example.com/a.png"})))
    assert still.value.code == "invalid_image_url"


def test_wrong_content_type_is_415(fake, edit):
    # GIVEN a body sent as text/plain
    event = load_event("edit_json")
    event["headers"]["Content-Type"] = "text/plain"

    # WHEN it is posted; THEN 415 and nothing stored
    response = edit(event, FakeContext())
    assert response["statusCode"] == 415
    assert json.loads(response["body"])["error"]["code"] == "unsupported_media_type"
    assert s3_keys() == []


def test_make_serve_without_a_token_starts_the_fake_and_says_offline(aws, monkeypatch):
    # GIVEN no Replicate token parameter configured (the env is restored after the test)
    from localdev.fake_replicate import start_offline_replicate

    for name in (
        "REPLICATE_API_TOKEN_PARAM",
        "REPLICATE_WEBHOOK_SECRET_PARAM",
        "REPLICATE_BASE_URL",
        "REPLICATE_OUTPUT_HOSTS",
        "REPLICATE_ALLOW_HTTP_LOOPBACK",
        "IMAGEGEN_REPLICATE_OFFLINE",
        "PUBLIC_BASE_URL",
    ):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)

    # WHEN make serve's start-up runs it
    banner = start_offline_replicate("127.0.0.1", 8080)

    # THEN the banner says OFFLINE, the secrets are SSM SecureStrings (not env values), and the fake answers
    import os

    import requests

    assert "OFFLINE" in banner[0]
    ssm = boto3.client("ssm")
    token = ssm.get_parameter(Name=os.environ["REPLICATE_API_TOKEN_PARAM"], WithDecryption=True)["Parameter"]
    secret = ssm.get_parameter(Name=os.environ["REPLICATE_WEBHOOK_SECRET_PARAM"], WithDecryption=True)["Parameter"]
    assert token["Type"] == secret["Type"] == "SecureString" and secret["Value"].startswith("whsec_")
    assert token["Value"] not in os.environ.values() and secret["Value"] not in os.environ.values()
    assert os.environ["IMAGEGEN_REPLICATE_OFFLINE"] == "1"
    assert os.environ["PUBLIC_BASE_URL"] == "http://127.0.0.1:8080"
    auth = {"authorization": f"Bearer {token['Value']}"}
    assert (
        requests.get(f"{os.environ['REPLICATE_BASE_URL']}/v1/predictions/none", headers=auth, timeout=5).status_code
        == 404
    )


def test_make_serve_with_a_token_uses_real_replicate(monkeypatch):
    # GIVEN a configured token parameter; WHEN start-up runs; THEN nothing is faked
    from localdev.fake_replicate import start_offline_replicate

    monkeypatch.setenv("REPLICATE_API_TOKEN_PARAM", "/prod/replicate-token")
    monkeypatch.delenv("REPLICATE_BASE_URL", raising=False)
    banner = start_offline_replicate("127.0.0.1", 8080)
    assert ("REAL" in banner[0] and "PUBLIC_BASE_URL" not in banner[0]) or "not set" in banner[0]
    assert "REPLICATE_BASE_URL" not in __import__("os").environ


def test_one_image_failing_to_upload_never_hides_the_jobs_already_submitted(fake, edit):
    # GIVEN S3 throttling exactly one of the three uploads of a multipart edit
    from botocore.exceptions import ClientError

    from imagegen import aws

    uploads: list[str] = []

    def throttle_second_upload(params, **_):
        if params.get("Key", "").startswith("uploads/"):
            uploads.append(params["Key"])
            if len(uploads) == 2:
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "PutObject")

    events = aws.client("s3").meta.events
    events.register("before-parameter-build.s3.PutObject", throttle_second_upload, unique_id="throttle")
    try:
        response = edit(load_event("edit_multipart"), FakeContext())
    finally:
        events.unregister("before-parameter-build.s3.PutObject", unique_id="throttle")

    # THEN the request is still a 202 listing every job created (their predictions are billed),
    # and the image that failed is named with its error instead of a job id
    assert response["statusCode"] == 202, response["body"]
    listed = json.loads(response["body"])["jobs"]
    started = [job for job in listed if "id" in job]
    (refused,) = [job for job in listed if "id" not in job]
    assert len(started) == 2 and len(fake.requests) == 2
    assert refused["status"] == "failed" and refused["source"].startswith("image[")
    for job in started:
        assert s3_json(f"jobs/{job['id']}.json")["prediction_id"] in fake.predictions


def test_replicate_not_answering_in_time_is_a_504_and_a_failed_job(fake, edit, monkeypatch):
    # GIVEN Replicate taking longer than our read timeout to create the prediction
    from imagegen.providers import replicate as predictions

    monkeypatch.setattr(predictions, "READ_TIMEOUT", 0.3)
    predictions._client.cache_clear()
    fake.create_delay = 2.0
    try:
        response = edit(load_event("edit_json"), FakeContext())
    finally:
        predictions._client.cache_clear()
    # THEN a 504 provider_timeout, and the job is recorded failed
    assert response["statusCode"] == 504, response["body"]
    payload = json.loads(response["body"])
    assert payload["error"]["code"] == "provider_timeout"
    assert s3_json(f"jobs/{payload['jobs'][0]['id']}.json")["status"] == "failed"


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb to anything that decodes it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize("field", ["image", "mask"])
def test_a_header_claiming_a_huge_image_is_a_413_naming_the_field(aws, edit, monkeypatch, field):
    # GIVEN a 69-byte PNG that claims 20000x20000 pixels, as the edit's image or as its mask
    monkeypatch.setenv("EDIT_MODELS", "stable-image-inpaint")
    bomb = png_header(20000, 20000)
    assert len(bomb) < 100
    sane = render(b"x")
    body = {"prompt": "a sofa", "image": bomb if field == "image" else sane, "mask": bomb if field == "mask" else sane}
    event = json_event({name: base64.b64encode(value).decode() if name != "prompt" else value
                        for name, value in body.items()})  # fmt: skip
    # WHEN it is posted THEN a 413 that names it, not a 500, and nothing stored
    response = edit(event, FakeContext())
    assert response["statusCode"] == 413, response["body"]
    error = json.loads(response["body"])["error"]
    assert error["code"] == "image_too_large" and error["param"] == field
    assert s3_keys() == []


def test_a_lone_surrogate_in_a_prompt_is_a_400_before_any_job(fake, edit, monkeypatch):
    monkeypatch.setenv("EDIT_MODELS", "flux-kontext-pro")
    image = base64.b64encode(render(b"x")).decode()
    event = load_event("edit_json", body='{"image": "' + image + '", "prompt": "a \\ud800 hat"}')
    response = edit(event, FakeContext())
    assert response["statusCode"] == 400, response["body"]
    assert json.loads(response["body"])["error"]["param"] == "prompt"
    assert s3_keys() == [] and fake.requests == []
