"""Structured logs and EMF metrics (imagegen.logs through imagegen.http.api_handler).

GIVEN a function handling a request
WHEN it logs and finishes
THEN every line carries the request's fields, no secret, token, presigned URL signature or
image bytes reach the logs, and metrics are CloudWatch Embedded Metric Format documents.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest

from imagegen import bucket, logs
from imagegen.jobs import records
from localdev.fake_replicate import FakeReplicate, new_secret, render, signed_headers
from localdev.server import load_handler
from tests.conftest import FakeContext, load_event

REQUEST_FIELDS = ("request_id", "route", "function", "job_id", "provider", "model", "outcome", "duration_ms")


@pytest.fixture
def captured(monkeypatch):
    """The `imagegen` logger's lines as Lambda's JSON log format would write them."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "imagegen-test")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("imagegen")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(level)


def emf(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]


def stored_job(**fields) -> dict:
    job = records.new_job(bucket.new_job_id(), provider="replicate", model="catacolabs/cartoonify", **fields)
    return records.create(job)


def test_the_request_line_carries_every_field(aws, captured, capsys):
    # GIVEN a stored job
    job = stored_job()

    # WHEN get_job serves it
    event = load_event("get_job", pathParameters={"id": job["id"]})
    response = load_handler("get_job")(event, FakeContext())

    # THEN the summary line has the request's fields, from the Lambda context and the job
    assert response["statusCode"] == 200
    line = next(entry for entry in captured() if entry["message"].startswith("request finished"))
    assert {name: line.get(name) for name in REQUEST_FIELDS} == {
        "request_id": FakeContext.aws_request_id,
        "route": "GET /v1/jobs/{id}",
        "function": "imagegen-test",
        "job_id": job["id"],
        "provider": "replicate",
        "model": "catacolabs/cartoonify",
        "outcome": "ok",
        "duration_ms": line["duration_ms"],
    }
    assert line["status"] == 200 and line["duration_ms"] >= 0
    # AND the invocation's estimated cost is an EMF metric
    (cost,) = [doc for doc in emf(capsys.readouterr().out) if "EstimatedCost" in doc]
    assert cost["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "EstimatedCost", "Unit": "None"}]
    assert cost["provider"] == "replicate" and cost["EstimatedCost"] > 0


def test_client_errors_name_their_code_as_the_outcome(aws, captured):
    load_handler("get_job")(load_event("get_job", pathParameters={"id": "0" * 32}), FakeContext())

    line = next(entry for entry in captured() if entry["message"].startswith("request finished"))
    assert line["outcome"] == "job_not_found" and line["status"] == 404


def test_secrets_tokens_signatures_and_image_bytes_never_reach_the_logs(aws, captured, monkeypatch):
    # GIVEN the fake Replicate with its token in SSM, and an edit carrying a real image
    fake = FakeReplicate(deliver=False).start()
    try:
        boto3.client("ssm").put_parameter(Name="/t/token", Value=fake.token, Type="SecureString")
        monkeypatch.setenv("REPLICATE_API_TOKEN_PARAM", "/t/token")
        monkeypatch.setenv("REPLICATE_BASE_URL", fake.url)
        image = render(b"secret-photo", size=96)
        event = load_event("edit_json", body=json.dumps({"image": base64.b64encode(image).decode()}))
        event["headers"]["prefer"] = "respond-async"  # a job: the fake never finishes it

        # WHEN the edit runs, and code logs the worst things it could by mistake
        response = load_handler("edit")(event, FakeContext())
        job_id = json.loads(response["body"])["jobs"][0]["id"]
        presigned = bucket.presign(f"uploads/{job_id}/0.png")["url"]
        secret = new_secret()
        log = logging.getLogger("imagegen")
        log.info("submitting with token %s to %s", fake.token, presigned)
        log.warning("headers %s", {"authorization": f"Bearer {fake.token}", "secret": secret})
        log.debug("body %s", base64.b64encode(image * 4).decode())
    finally:
        fake.stop()

    # THEN the lines are there, but none holds the token, the secret, the signature or the bytes
    text = json.dumps(captured())
    signature = presigned.split("X-Amz-Signature=")[1].split("&")[0]
    assert "submitting with token" in text and job_id in text
    for leaked in (fake.token, secret, signature, base64.b64encode(image).decode()[:100]):
        assert leaked not in text
    assert "X-Amz-Signature=***" in text


def test_an_api_key_sent_anywhere_is_neither_logged_nor_echoed(aws, captured):
    # GIVEN a request that pastes a whole API key where a model name goes, and code logging it
    key_id, secret_part = "0123456789abcdef", "S" * 43
    key = f"igk_{key_id}_{secret_part}"
    event = load_event("generate_post", body=json.dumps({"prompt": "a lighthouse", "model": key}))

    # WHEN generate refuses the unknown model, and a careless line logs the body
    response = load_handler("generate")(event, FakeContext())
    logging.getLogger("imagegen").warning("body was %s", {"model": key})

    # THEN the 400 names the field but not the secret half of the key, and no log line holds it
    error = json.loads(response["body"])["error"]
    assert response["statusCode"] == 400 and error["param"] == "model"
    assert secret_part not in error["message"] and f"igk_{key_id}_***" in error["message"]
    text = json.dumps(captured())
    assert "body was" in text and secret_part not in text


def test_webhook_rejections_are_metrics_by_reason(aws, monkeypatch, capsys):
    # GIVEN the webhook's secret in SSM and a delivery signed with another one
    boto3.client("ssm").put_parameter(Name="/t/secret", Value=new_secret(), Type="SecureString")
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET_PARAM", "/t/secret")
    monkeypatch.setenv("IMAGEGEN_EMF", "1")
    event = load_event("webhook_succeeded")
    event["headers"] = signed_headers(new_secret(), event["body"])

    # WHEN it arrives
    response = load_handler("replicate_webhook")(event, FakeContext())

    # THEN it is refused and counted as WebhookRejected{reason=invalid_signature}, with a roll-up
    assert response["statusCode"] == 401
    (doc,) = [doc for doc in emf(capsys.readouterr().out) if "WebhookRejected" in doc]
    directive = doc["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "imagegen"
    assert directive["Dimensions"] == [["reason"], []]
    assert doc["reason"] == "invalid_signature" and doc["WebhookRejected"] == 1


def test_finished_jobs_count_images_failures_and_model_time(aws, monkeypatch, capsys):
    monkeypatch.setenv("IMAGEGEN_EMF", "1")
    done, broken = stored_job(), stored_job()
    capsys.readouterr()

    images = [{"key": "images/a.png", "content_type": "image/png"}] * 2
    records.update(
        done["id"], lambda job: {**job, "status": "succeeded", "images": images, "metrics": {"predict_time": 15.4}}
    )
    records.update(broken["id"], lambda job: {**job, "status": "failed", "error": "CUDA out of memory"})
    records.update(broken["id"], lambda job: {**job, "status": "failed"})  # no move: nothing counted twice

    docs = emf(capsys.readouterr().out)
    values = {
        name: doc[name] for doc in docs for name in ("ImagesStored", "ProviderLatency", "JobsFailed") if name in doc
    }
    assert values == {"ImagesStored": 2, "ProviderLatency": 15400.0, "JobsFailed": 1}
    failed = next(doc for doc in docs if "JobsFailed" in doc)
    assert (failed["provider"], failed["model"], failed["reason"]) == ("replicate", "catacolabs/cartoonify", "failed")
    assert ["reason", "provider", "model"] in failed["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


def test_an_exceptions_message_is_masked_under_the_formatter_lambda_uses(aws, monkeypatch):
    # GIVEN the imagegen logger formatted as Lambda's JSON log format does it: awslambdaric's own formatter
    from awslambdaric.lambda_runtime_log_utils import JsonFormatter as LambdaJsonFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaJsonFormatter())
    logger = logging.getLogger("imagegen")
    logger.addHandler(handler)
    logs.setup()
    token = "r8_" + "Z" * 37
    url = "https://bucket.s3.amazonaws.com/images/x.png?X-Amz-Signature=" + "f" * 64 + "&X-Amz-Date=1"
    try:
        # WHEN code logs an exception whose message carries a token and a presigned URL (api_handler does)
        try:
            raise RuntimeError(f"replicate refused {token} while fetching {url}")
        except RuntimeError:
            logger.exception("unhandled error")
    finally:
        logger.removeHandler(handler)
    # THEN the runtime's line keeps the error's type and shape, and neither secret
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines() if text.strip()]
    assert line["errorType"] == "RuntimeError" and line["message"] == "unhandled error"
    assert "r8_***" in line["errorMessage"] and "X-Amz-Signature=***" in line["errorMessage"]
    assert token not in json.dumps(line) and "f" * 64 not in json.dumps(line)


def custom_alarms() -> dict[str, tuple[str, dict[str, str]]]:
    """The monitoring module's alarms on our own metrics: name -> (metric, dimensions), read from its main.tf."""
    text = (Path(__file__).resolve().parents[2] / "terraform/modules/monitoring/main.tf").read_text()
    block = text.split("custom_alarms = {", 1)[1].split("\n  }\n", 1)[0]
    found = {}
    for name, body in re.findall(r"\n    ([\w-]+) = \{(.*?)\n    \}", block, re.S):
        metric = re.search(r'metric\s+= "(\w+)"', body).group(1)
        dimensions = dict(re.findall(r'(\w+) = "([^"]+)"', re.search(r"dimensions\s+= \{([^}]*)\}", body).group(1)))
        found[name] = (metric, dimensions)
    return found


def series(docs: list[dict], metric: str, dimensions: dict[str, str]) -> bool:
    """True if some EMF document puts `metric` in exactly that dimension set with those values (what an alarm reads)."""
    for doc in docs:
        if metric not in doc:
            continue
        sets = doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        if sorted(dimensions) in [sorted(s) for s in sets] and all(doc.get(k) == v for k, v in dimensions.items()):
            return True
    return False


def test_every_custom_alarm_watches_a_series_the_code_emits(aws, monkeypatch, capsys):
    # GIVEN what would set off each alarm: a forged webhook, a job past its timeout, a throttled Bedrock
    from botocore.stub import Stubber

    from imagegen import catalog
    from imagegen.jobs import sweeper
    from imagegen.providers import runtime as invoke

    monkeypatch.setenv("IMAGEGEN_EMF", "1")
    boto3.client("ssm").put_parameter(Name="/t/secret", Value=new_secret(), Type="SecureString")
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET_PARAM", "/t/secret")
    event = load_event("webhook_succeeded")
    event["headers"] = signed_headers(new_secret(), event["body"])
    load_handler("replicate_webhook")(event, FakeContext())

    fake = FakeReplicate(deliver=False).start()
    try:
        boto3.client("ssm").put_parameter(Name="/t/token", Value=fake.token, Type="SecureString")
        monkeypatch.setenv("REPLICATE_API_TOKEN_PARAM", "/t/token")
        monkeypatch.setenv("REPLICATE_BASE_URL", fake.url)
        prediction = fake.create("catacolabs/cartoonify", "v1", {"input": {}})
        stored_job(prediction_id=prediction["id"])
        sweeper.sweep(datetime.now(timezone.utc) + timedelta(hours=2))
    finally:
        fake.stop()

    from imagegen.jobs import run

    monkeypatch.setattr(run, "SYNC_BUDGET_SECONDS", run.SYNC_CALL_ROOM_SECONDS)  # no time left to retry it
    stubber = Stubber(invoke.runtime_client("bedrock-runtime", catalog.get("sd3.5-large").region))
    stubber.add_client_error("invoke_model", "ThrottlingException", "slow down", 429)
    with stubber:
        throttled = load_handler("generate")(load_event("generate_post"), FakeContext())
    assert throttled["statusCode"] == 429

    # a key passing 80% of its day's budget, then refused for it
    from imagegen.errors import ApiError
    from imagegen.jobs import limits

    budget = {"budget_usd_day": 0.09}
    limits.admit(catalog.get("sd3.5-large"), "00000000000000c1", budget, 1, 60)
    with pytest.raises(ApiError):
        limits.admit(catalog.get("sd3.5-large"), "00000000000000c1", budget, 1, 60)

    # THEN each alarm's metric was emitted in exactly the dimension set the alarm reads
    docs = emf(capsys.readouterr().out)
    alarms = custom_alarms()
    assert set(alarms) == {
        "webhook-signature-failures",
        "sweeper-timeouts",
        "bedrock-throttling",
        "budget-refusals",
        "budgets-almost-spent",
    }
    for name, (metric, dimensions) in alarms.items():
        assert series(docs, metric, dimensions), f"{name}: no {metric}{dimensions} was emitted"
