"""The replicate_webhook function: result storage, statuses, idempotency and output checks (moto S3/SSM).

Output files are served over loopback HTTP by the fake Replicate's file host.
"""

from __future__ import annotations

import io
import json
import time
from datetime import datetime

import boto3
import pytest

from imagegen import bucket as storage
from imagegen.errors import ApiError
from imagegen.jobs import outputs as webhooks
from imagegen.jobs import records
from localdev.fake_replicate import FakeReplicate, render, signed_headers
from localdev.server import load_handler
from tests.conftest import FakeContext, load_event
from tests.unit.conftest import BUCKET

PREDICTION = "q1w2e3r4t5y6u7i8o9p0a1s2d3"


@pytest.fixture
def fake(aws, monkeypatch):
    server = FakeReplicate(deliver=False).start()
    boto3.client("ssm").put_parameter(Name="/t/webhook-secret", Value=server.secret, Type="SecureString")
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET_PARAM", "/t/webhook-secret")
    monkeypatch.setenv("REPLICATE_OUTPUT_HOSTS", f"replicate.delivery,*.replicate.delivery,{server.netloc}")
    monkeypatch.setenv("REPLICATE_ALLOW_HTTP_LOOPBACK", "1")
    monkeypatch.delenv("MAX_OUTPUT_BYTES", raising=False)
    yield server
    server.stop()


@pytest.fixture
def webhook():
    return load_handler("replicate_webhook")


def new_job(prediction_id: str | None = PREDICTION, status: str = "queued") -> dict:
    job = records.new_job(storage.new_job_id(), provider="replicate", model="catacolabs/cartoonify", status=status)
    if prediction_id:
        job["prediction_id"] = prediction_id
    return records.create(job)


def serve(fake: FakeReplicate, data: bytes, name: str = "out-0.png") -> str:
    url = f"{fake.url}/delivery/{PREDICTION}/{name}"
    fake.outputs[url] = data
    return url


def event_for(fake: FakeReplicate, job_id: str, **changes) -> dict:
    """The webhook event with our job, a prediction body changed by `changes`, freshly signed."""
    event = load_event("webhook_succeeded")
    body = {**json.loads(event["body"]), "id": PREDICTION, **changes}
    event["body"] = json.dumps(body)
    event["queryStringParameters"] = {"job_id": job_id}
    event["rawQueryString"] = f"job_id={job_id}"
    event["headers"].update(signed_headers(fake.secret, event["body"]))
    return event


def image_keys(job_id: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="images/")
    return [o["Key"] for o in listing.get("Contents", []) if f"/{job_id}/" in o["Key"]]


def answer(response: dict) -> tuple[int, dict]:
    return response["statusCode"], json.loads(response["body"])


def test_succeeded_streams_each_output_to_its_dated_key(fake, webhook):
    # GIVEN a queued job and a prediction with two outputs (a PNG and a JPEG-looking file)
    job = new_job()
    first = render(b"one")
    second = b"\xff\xd8\xff\xe0" + b"jpeg body" * 100
    urls = [serve(fake, first), serve(fake, second, "out-1.png")]

    # WHEN the signed webhook arrives
    status, body = answer(webhook(event_for(fake, job["id"], output=urls), FakeContext()))

    # THEN both files are stored under the job's date with their real types, and the job succeeded
    assert (status, body) == (200, {"id": job["id"], "status": "succeeded"})
    day = datetime.fromisoformat(job["created_at"])
    expected = [f"images/{day:%Y/%m/%d}/{job['id']}/0.png", f"images/{day:%Y/%m/%d}/{job['id']}/1.jpg"]
    assert sorted(image_keys(job["id"])) == expected
    s3 = boto3.client("s3")
    assert s3.get_object(Bucket=BUCKET, Key=expected[0])["Body"].read() == first
    stored = s3.get_object(Bucket=BUCKET, Key=expected[1])
    assert stored["Body"].read() == second and stored["ContentType"] == "image/jpeg"
    record = records.get(job["id"])
    assert record["status"] == "succeeded"
    assert [(i["key"], i["content_type"], i["bytes"]) for i in record["images"]] == [
        (expected[0], "image/png", len(first)),
        (expected[1], "image/jpeg", len(second)),
    ]
    # AND the file host never saw a credential
    assert fake.file_authorizations == [None, None]


def test_the_same_webhook_twice_stores_once_and_answers_2xx_both_times(fake, webhook):
    # GIVEN a job and its webhook
    job = new_job()
    event = event_for(fake, job["id"], output=serve(fake, render(b"x")))

    # WHEN it is delivered twice
    first = answer(webhook(event, FakeContext()))
    _, etag = records.read(job["id"])
    second = answer(webhook(event, FakeContext()))

    # THEN both are 200, the second fetches and changes nothing
    assert first[0] == second[0] == 200
    assert second[1]["duplicate"] is True
    assert len(image_keys(job["id"])) == 1
    assert records.read(job["id"])[1] == etag
    assert len(fake.file_authorizations) == 1


def test_an_existing_image_is_never_overwritten(fake, webhook):
    # GIVEN a job whose first image key already holds bytes (an earlier delivery died after storing it)
    job = new_job()
    key = storage.image_key(job["id"], 0, "image/png", datetime.fromisoformat(job["created_at"]))
    storage.put_new(key, b"earlier bytes", "image/png")

    # WHEN the webhook is delivered again
    status, _ = answer(webhook(event_for(fake, job["id"], output=serve(fake, render(b"new"))), FakeContext()))

    # THEN the job succeeds with that key and the object was not replaced
    assert status == 200
    assert boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"earlier bytes"
    assert [i["key"] for i in records.get(job["id"])["images"]] == [key]


@pytest.mark.parametrize("status", ["failed", "canceled"])
def test_failed_and_canceled_record_the_error(fake, webhook, status):
    # GIVEN a job; WHEN its prediction ends failed or canceled
    job = new_job()
    error = "CUDA out of memory" if status == "failed" else None
    code, body = answer(webhook(event_for(fake, job["id"], status=status, output=None, error=error), FakeContext()))

    # THEN the job has that status and the error (or says it was canceled), and no images
    assert (code, body["status"]) == (200, status)
    record = records.get(job["id"])
    assert record["status"] == status and record["images"] == []
    assert record["error"] == (error or "the prediction was canceled")


def test_a_webhook_before_the_prediction_id_is_recorded_is_409_so_replicate_retries(fake, webhook):
    # GIVEN a job whose submit has not recorded the prediction id yet
    job = new_job(prediction_id=None)

    # WHEN the webhook arrives
    status, body = answer(webhook(event_for(fake, job["id"], output=serve(fake, render(b"x"))), FakeContext()))

    # THEN it is a retryable 409 and nothing changed
    assert (status, body["error"]["code"]) == (409, "job_not_ready")
    assert records.get(job["id"])["status"] == "queued" and image_keys(job["id"]) == []


@pytest.mark.parametrize(
    ("served", "content_type", "limit", "status", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 5000, "image/png", "2048", 413, "output_too_large"),
        (b"<html>not an image</html>", "image/png", None, 415, "output_not_an_image"),
        (render(b"ok"), "text/html", None, 415, "output_not_an_image"),
        (None, None, None, 400, "output_not_found"),
    ],
)
def test_bad_outputs_fail_the_job_and_store_nothing(
    fake, webhook, monkeypatch, served, content_type, limit, status, code
):
    # GIVEN an output that is too large, not an image, typed as HTML, or gone
    if limit:
        monkeypatch.setenv("MAX_OUTPUT_BYTES", limit)
    job = new_job()
    url = f"{fake.url}/delivery/{PREDICTION}/out-0.png"
    if served is not None:
        fake.outputs[url] = served
        fake.output_types[url] = content_type
    # WHEN the webhook names it
    got = answer(webhook(event_for(fake, job["id"], output=[url]), FakeContext()))

    # THEN it is that 4xx, nothing is stored, and the job is failed with the reason
    assert (got[0], got[1]["error"]["code"]) == (status, code)
    assert image_keys(job["id"]) == []
    assert records.get(job["id"])["status"] == "failed"


def test_an_unreachable_output_is_502_and_the_job_waits_for_the_retry(fake, webhook, monkeypatch):
    # GIVEN an allowed host where nothing listens
    closed = FakeReplicate()
    netloc = closed.netloc
    closed.server_close()
    monkeypatch.setenv("REPLICATE_OUTPUT_HOSTS", netloc)
    job = new_job()

    # WHEN the webhook names an output there
    got = answer(webhook(event_for(fake, job["id"], output=f"http://{netloc}/out.png"), FakeContext()))

    # THEN it is a 502 (Replicate delivers again) and the job is still waiting
    assert (got[0], got[1]["error"]["code"]) == (502, "output_unavailable")
    assert records.get(job["id"])["status"] == "queued"


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://replicate.delivery/pbxt/abc/out-0.png", True),
        ("https://pbxt.replicate.delivery/abc/out-0.png", True),
        ("https://replicate.delivery:443/abc/out-0.png", True),
        ("https://replicate.delivery:8443/abc/out-0.png", False),
        ("http://replicate.delivery/abc/out-0.png", False),
        ("https://replicate.delivery.evil.com/out.png", False),
        ("https://evilreplicate.delivery/out.png", False),
        ("https://user:pw@replicate.delivery/out.png", False),
        ("ftp://replicate.delivery/out.png", False),
        ("https:///out.png", False),
        # hosts with characters a host name cannot have, which an HTTP client may read otherwise
        ("https://evil.com\\.replicate.delivery/out.png", False),
        ("https://evil.com%2f.replicate.delivery/out.png", False),
        ("https://evil.com%2ereplicate.delivery/out.png", False),
        ("https://evil.com_.replicate.delivery/out.png", False),
    ],
)
def test_output_host_allowlist_default_is_https_replicate_delivery(monkeypatch, url, allowed):
    for name in ("REPLICATE_OUTPUT_HOSTS", "REPLICATE_ALLOW_HTTP_LOOPBACK"):
        monkeypatch.delenv(name, raising=False)
    assert webhooks.url_allowed(url) is allowed


def test_http_loopback_needs_both_the_flag_and_the_host_on_the_list(monkeypatch):
    monkeypatch.setenv("REPLICATE_OUTPUT_HOSTS", "127.0.0.1:8000")
    monkeypatch.delenv("REPLICATE_ALLOW_HTTP_LOOPBACK", raising=False)
    assert not webhooks.url_allowed("http://127.0.0.1:8000/out.png")
    monkeypatch.setenv("REPLICATE_ALLOW_HTTP_LOOPBACK", "1")
    assert webhooks.url_allowed("http://127.0.0.1:8000/out.png")
    assert not webhooks.url_allowed("http://127.0.0.1:9000/out.png")
    monkeypatch.setenv("REPLICATE_OUTPUT_HOSTS", "example.com")
    assert not webhooks.url_allowed("http://example.com/out.png")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"query": {}}, "unknown_job"),
        ({"query": {"job_id": "../../etc"}}, "unknown_job"),
        ({"query": {"job_id": "f" * 32}}, "unknown_job"),
        ({"body": {"id": "another"}}, "prediction_mismatch"),
        ({"body": {"status": "exploded"}}, "invalid_status"),
        ({"raw": "[1, 2]"}, "invalid_json"),
    ],
)
def test_webhooks_that_do_not_fit_a_job_are_400(fake, webhook, change, code):
    # GIVEN a waiting job and a correctly signed webhook that does not fit it
    job = new_job()
    event = event_for(fake, job["id"], **change.get("body", {}))
    if "query" in change:
        event["queryStringParameters"] = change["query"]
    if "raw" in change:
        event["body"] = change["raw"]
        event["headers"].update(signed_headers(fake.secret, event["body"]))
    _, etag = records.read(job["id"])

    # WHEN it arrives; THEN a 400 with its code, and the job is untouched
    got = answer(webhook(event, FakeContext()))
    assert (got[0], got[1]["error"]["code"]) == (400, code)
    assert records.read(job["id"])[1] == etag


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ({"not": "a url"}, "invalid_output"),
        (None, "invalid_output"),
        ([], "invalid_output"),
        ("not a url", "output_url_not_allowed"),
    ],
)
def test_a_succeeded_webhook_with_unusable_output_fails_the_job(fake, webhook, output, code):
    # GIVEN a waiting job; WHEN Replicate says it succeeded with an output we can never store
    job = new_job()
    got = answer(webhook(event_for(fake, job["id"], output=output), FakeContext()))
    # THEN the answer is the 400, and the job is failed with the reason (not left waiting for good)
    assert (got[0], got[1]["error"]["code"]) == (400, code)
    stored = records.get(job["id"])
    assert stored["status"] == "failed" and stored["error"] == got[1]["error"]["message"]


def test_a_forged_webhook_is_401_before_anything_is_read(fake, webhook, monkeypatch):
    # GIVEN a webhook signed with the right headers but over another body
    job = new_job()
    event = event_for(fake, job["id"], output=serve(fake, render(b"x")))
    event["body"] = event["body"].replace(PREDICTION, "zzzz")
    monkeypatch.setattr(records, "read", lambda job_id: pytest.fail("a job was read for a forged webhook"))

    # WHEN it arrives; THEN 401 invalid_signature
    got = answer(webhook(event, FakeContext()))
    assert (got[0], got[1]["error"]["code"]) == (401, "invalid_signature")


def test_a_running_update_moves_the_job_forward_only(fake, webhook):
    # GIVEN a job; WHEN a processing webhook arrives after the job already finished
    job = new_job()
    processing = answer(webhook(event_for(fake, job["id"], status="processing", output=None), FakeContext()))
    assert processing == (200, {"id": job["id"], "status": "running"})
    records.update(job["id"], lambda j: {**j, "status": "failed", "error": "x"})
    late = answer(webhook(event_for(fake, job["id"], status="processing", output=None), FakeContext()))

    # THEN the finished status stays
    assert late[0] == 200 and records.get(job["id"])["status"] == "failed"


class ShortContext(FakeContext):
    """A Lambda invocation with `ms` milliseconds left."""

    def __init__(self, ms: int):
        self.ms = ms

    def get_remaining_time_in_millis(self) -> int:
        return self.ms


def test_the_webhook_answers_5xx_before_its_lambda_would_be_killed(fake, webhook):
    # GIVEN a 2 MB output served at 256 KB/s (8 s) to an invocation with 4.5 s left
    job = new_job()
    url = serve(fake, render(b"slow") + b"\0" * (2 * 1024 * 1024))
    fake.bandwidth = 256 * 1024
    started = time.monotonic()
    # WHEN the webhook arrives
    got = answer(webhook(event_for(fake, job["id"], output=url), ShortContext(4500)))
    # THEN it stops in time (3 s of safety) with a 502 Replicate retries, storing nothing, job still open
    assert time.monotonic() - started < 3.0
    assert (got[0], got[1]["error"]["code"]) == (502, "output_unavailable")
    assert image_keys(job["id"]) == [] and records.get(job["id"])["status"] == "queued"


def test_b64_json_of_a_replicate_job_is_refused_from_the_recorded_sizes_before_reading_anything(aws, monkeypatch):
    # GIVEN a job the webhook finished with two 3 MB outputs (the sizes it recorded)
    from imagegen import bucket as storage
    from imagegen.api import answers

    stored = [{"key": f"images/2026/12/01/{'a' * 32}/{n}.png", "content_type": "image/png", "bytes": 3_000_000}
              for n in range(2)]  # fmt: skip
    read = []
    monkeypatch.setattr(storage, "read", lambda key: read.append(key) or b"")
    # WHEN it is asked for inline THEN a 413 that says to ask for url, and nothing was read into memory
    with pytest.raises(ApiError) as err:
        answers.image_fields(stored, "b64_json")
    assert (err.value.status, err.value.code) == (413, "response_too_large") and "url" in err.value.message
    assert read == []


def test_a_jpeg_of_a_model_without_a_quality_setting_is_stored_at_the_compression_asked_for(fake, webhook):
    # GIVEN a FLUX Kontext job (jpg, but no output_quality input) asked for output_compression 20
    from PIL import Image

    job = records.new_job(
        storage.new_job_id(),
        provider="replicate",
        model="black-forest-labs/flux-kontext-pro",
        parameters={"output_format": "jpeg", "compression": 20},
    )
    job = records.create({**job, "prediction_id": PREDICTION})
    picture = Image.new("RGB", (256, 256), (30, 120, 200))
    for x in range(0, 256, 16):
        picture.paste((x, 255 - x, 90), (x, 0, x + 8, 256))
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=95)
    made = out.getvalue()
    # WHEN Replicate's webhook says it succeeded with that JPEG at quality 95
    status, _ = answer(webhook(event_for(fake, job["id"], output=[serve(fake, made)]), FakeContext()))
    # THEN what is stored is the same picture encoded again at quality 20: a JPEG, coarser, smaller
    assert status == 200
    (key,) = image_keys(job["id"])
    stored = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    again, original = Image.open(io.BytesIO(stored)), Image.open(io.BytesIO(made))
    assert again.format == "JPEG" and again.size == original.size and len(stored) < len(made)
    assert sum(again.quantization[0]) > sum(original.quantization[0])
    assert records.get(job["id"])["images"][0]["bytes"] == len(stored)
