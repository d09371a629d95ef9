"""Jobs for every model: Prefer: respond-async queues a Bedrock request; the worker makes it; a throttled
job goes back on the queue (never failed for throttling alone while its time lasts)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from imagegen import catalog
from imagegen.jobs import queued as queueing
from imagegen.jobs import records
from imagegen.providers import runtime as invoke
from imagegen.routes import worker
from localdev.fake_models import png
from localdev.server import load_handler
from tests.conftest import FakeContext, clear_caches, load_event
from tests.unit.routes.test_generate import sd3_answer, streaming


@pytest.fixture
def queue(aws, monkeypatch):
    for name in ("GENERATE_MODELS", "SAGEMAKER_ENDPOINT_NAME", "IMAGEGEN_MODELS_OFFLINE", "DELIVERY_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="work-sd3-5-large")["QueueUrl"]
    monkeypatch.setenv("WORK_QUEUES", json.dumps({"sd3.5-large": url}))
    clear_caches()
    return sqs, url


def queued(body: dict, prefer: str = "respond-async") -> dict:
    event = load_event("generate_post")
    event["body"] = json.dumps(body)
    event["headers"]["prefer"] = prefer
    return load_handler("generate")(event, FakeContext())


def messages(sqs, url) -> list[dict]:
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [{"messageId": m["MessageId"], "body": m["Body"]} for m in found]


def bedrock() -> Stubber:
    return Stubber(invoke.runtime_client("bedrock-runtime", catalog.get("sd3.5-large").region))


def test_respond_async_queues_a_bedrock_request_and_the_worker_makes_it(queue):
    sqs, url = queue
    # WHEN a generation on Bedrock asks for a job
    response = queued({"prompt": "a lighthouse", "n": 2})
    body = json.loads(response["body"])
    # THEN 202 with a queued job, at once: nothing was called yet
    assert response["statusCode"] == 202 and body["status"] == "queued" and body["data"] == []
    assert response["headers"]["preference-applied"] == "respond-async"
    (message,) = messages(sqs, url)
    # AND the worker, handed the message, makes its two images and finishes the job
    stub = bedrock()
    for n in range(2):
        stub.add_response("invoke_model", {"body": streaming(sd3_answer([png(8, 8, (n, 2, 3))])), "contentType": "x"})
    with stub:
        assert worker.handle({"Records": [message]}, FakeContext()) == {"batchItemFailures": []}
    job = records.get(body["id"])
    assert job["status"] == "succeeded" and len(job["images"]) == 2 and job["attempts"] == 1
    assert job["cost_usd"] == 2 * catalog.get("sd3.5-large").price["usd"]
    # AND a second delivery of the same message changes nothing (SQS delivers at least once)
    with bedrock():  # no call may be made
        assert worker.handle({"Records": [message]}, FakeContext()) == {"batchItemFailures": []}
    assert records.get(body["id"])["images"] == job["images"]


def test_a_job_throttled_past_the_invocations_time_goes_back_on_the_queue(queue, monkeypatch):
    sqs, url = queue
    body = json.loads(queued({"prompt": "a lighthouse"})["body"])
    (message,) = messages(sqs, url)
    # GIVEN Bedrock throttling, and an invocation with no time left to wait for it
    from imagegen.jobs import worker as working

    monkeypatch.setattr(working, "MARGIN_SECONDS", 10_000)
    stub = bedrock()
    stub.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
    with stub:
        answer = worker.handle({"Records": [message]}, FakeContext())
    # THEN the message is handed back (SQS delivers it again) and the job is not failed
    assert answer == {"batchItemFailures": [{"itemIdentifier": message["messageId"]}]}
    assert records.get(body["id"])["status"] == "running"


def test_a_request_too_big_for_29_s_is_a_400_that_says_respond_async_and_runs_as_a_job(queue):
    import base64

    edit = load_handler("edit")
    image = base64.b64encode(png(64, 64, (9, 9, 9))).decode()
    event = load_event("edit_json")
    event["body"] = json.dumps({"image": [image] * 4, "model": "sd3.5-large", "prompt": "a hat", "n": 4})
    event["headers"].pop("prefer", None)
    refused = edit(event, FakeContext())
    error = json.loads(refused["body"])["error"]
    assert refused["statusCode"] == 400 and error["param"] == "n" and "Prefer: respond-async" in error["message"]
    event["headers"]["prefer"] = "respond-async"
    accepted = edit(event, FakeContext())
    assert accepted["statusCode"] == 202, accepted["body"]
    job = records.get(json.loads(accepted["body"])["id"])
    assert len(job["upload_keys"]) == 4 and job["parameters"]["n"] == 4
    assert queueing.requests_of(job)[1][0].image is not None
