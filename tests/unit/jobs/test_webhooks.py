"""Webhooks to the caller: signed as Standard Webhooks (held against the openai SDK's verifier and the
reference library), delivered at least once with the same id, retried on the schedule, stopped by 410."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import standardwebhooks
from openai import OpenAI

from imagegen import bucket
from imagegen.errors import ApiError
from imagegen.jobs import records, webhooks
from imagegen.routes import deliver
from tests.conftest import clear_caches


class Receiver:
    """A caller's webhook receiver on 127.0.0.1 answering `statuses` in turn (then 200)."""

    def __init__(self, statuses: list[int]):
        self.statuses, self.got = list(statuses), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                receiver.got.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token=abc"

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def queues(aws, monkeypatch):
    sqs = boto3.client("sqs", region_name="us-east-1")
    urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("deliveries", "dead")}
    monkeypatch.setenv("DELIVERY_QUEUE_URL", urls["deliveries"])
    monkeypatch.setenv("DELIVERY_DEAD_LETTER_URL", urls["dead"])
    monkeypatch.setenv("WEBHOOK_RETRY_SECONDS", "0,0,0,0,0")
    monkeypatch.setenv("IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK", "1")
    clear_caches()
    return sqs, urls


def ended_job(url: str, status: str = "succeeded", events: list[str] | None = None) -> dict:
    job = records.new_job(
        bucket.new_job_id(), provider="bedrock", model="m", status=status, owner="00000000000000a1",
        webhook={"url": url, "events": events or ["completed"]},
    )  # fmt: skip
    return records.create(job)


def drain(sqs, url: str) -> int:
    """The delivery queue handed to the deliver function, as its event source mapping does, until empty."""
    handled = 0
    while True:
        found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not found:
            return handled
        event = {"Records": [{"messageId": m["MessageId"], "body": m["Body"]} for m in found]}
        assert deliver.handle(event) == {"batchItemFailures": []}
        for m in found:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        handled += len(found)


def test_a_receiver_failing_three_times_gets_the_event_with_the_same_id_and_both_verifiers_accept_it(queues):
    sqs, urls = queues
    receiver = Receiver([500, 503, 502])
    try:
        # GIVEN a job that ends with a webhook whose receiver fails its first three attempts
        job = ended_job(receiver.url)
        # WHEN the delivery queue is worked through
        assert drain(sqs, urls["deliveries"]) == 4
    finally:
        receiver.stop()
    # THEN four attempts, one event id, and every one verifies with the key's secret: by the openai SDK's
    # own verifier and by the Standard Webhooks reference library
    secret = webhooks.secret_for("00000000000000a1")
    assert secret.startswith("whsec_")
    ids = {headers["webhook-id"] for headers, _ in receiver.got}
    assert len(receiver.got) == 4 and ids == {webhooks.event_id(job["id"])}
    for headers, body in receiver.got:
        OpenAI(api_key="x", webhook_secret=secret).webhooks.verify_signature(body, headers)
        standardwebhooks.Webhook(secret).verify(body, headers)
        event = json.loads(body)
        assert event["type"] == "job.succeeded" and event["data"]["id"] == job["id"]
    # AND the job says so
    deliveries = records.get(job["id"])["webhook"]["deliveries"]
    assert deliveries["state"] == "delivered" and deliveries["attempts"] == 4 and deliveries["last_status"] == 200
    assert sqs.receive_message(QueueUrl=urls["dead"]).get("Messages") is None


def test_a_forged_or_other_keys_signature_is_refused_by_the_sdk(queues):
    sqs, urls = queues
    receiver = Receiver([])
    try:
        ended_job(receiver.url)
        drain(sqs, urls["deliveries"])
    finally:
        receiver.stop()
    headers, body = receiver.got[0]
    other = webhooks.secret_for("00000000000000b2")  # another key's secret
    with pytest.raises(Exception, match=r"(?i)signature"):
        OpenAI(api_key="x", webhook_secret=other).webhooks.verify_signature(body, headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(webhooks.secret_for("00000000000000a1")).verify(body + b" ", headers)


def test_410_gone_stops_the_deliveries(queues):
    sqs, urls = queues
    receiver = Receiver([410])
    try:
        job = ended_job(receiver.url)
        assert drain(sqs, urls["deliveries"]) == 1
    finally:
        receiver.stop()
    assert len(receiver.got) == 1 and records.get(job["id"])["webhook"]["deliveries"]["state"] == "gone"


def test_after_the_last_attempt_the_delivery_goes_to_the_dead_letter_queue(queues):
    sqs, urls = queues
    receiver = Receiver([500] * 10)
    try:
        job = ended_job(receiver.url)
        assert drain(sqs, urls["deliveries"]) == 5  # the schedule here: five attempts
    finally:
        receiver.stop()
    dead = sqs.receive_message(QueueUrl=urls["dead"])["Messages"]
    assert json.loads(dead[0]["Body"])["job_id"] == job["id"]
    assert (
        records.get(job["id"])["webhook"]["deliveries"] | {"state": "dead", "attempts": 5}
        == (records.get(job["id"])["webhook"]["deliveries"])
    )


def test_the_events_filter_decides_which_endings_are_sent(queues):
    sqs, urls = queues
    ended_job("http://127.0.0.1:9/hook", status="failed", events=["succeeded"])
    assert drain(sqs, urls["deliveries"]) == 0


@pytest.mark.parametrize(
    ("values", "param"),
    [
        ({"webhook": "http://example.com/hook"}, "webhook"),  # https only
        ({"webhook": "https://user:pw@example.com/"}, "webhook"),
        ({"webhook": "https://example.com/", "webhook_events_filter": ["started"]}, "webhook_events_filter"),
        ({"webhook_events_filter": ["completed"]}, "webhook_events_filter"),
    ],
)
def test_a_bad_webhook_is_a_400_naming_its_field(values, param, monkeypatch):
    monkeypatch.delenv("IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK", raising=False)
    with pytest.raises(ApiError) as caught:
        webhooks.target(values)
    assert caught.value.status == 400 and caught.value.param == param


def test_a_private_address_is_refused_at_delivery_time(queues):
    sqs, urls = queues
    # GIVEN a receiver URL whose host resolves to this machine (not allowed: only make serve's http://127.0.0.1)
    job = ended_job("https://localhost:9/hook")
    drain_once = sqs.receive_message(QueueUrl=urls["deliveries"])["Messages"][0]
    assert webhooks.deliver(json.loads(drain_once["Body"])) == "retrying"
    assert records.get(job["id"])["webhook"]["deliveries"]["last_status"] is None


def test_a_keys_default_webhook_is_used_when_the_request_names_none_and_checked_when_set():
    from imagegen import apikeys

    assert webhooks.target({}, "https://hooks.example.com/k")["url"] == "https://hooks.example.com/k"
    assert webhooks.target({"webhook": "https://a.example.com/"}, "https://k.example.com/")["url"].startswith(
        "https://a."
    )
    assert webhooks.target({}) is None
    assert apikeys.check_limits({"webhook": "https://hooks.example.com/k"}) == {
        "webhook": "https://hooks.example.com/k"
    }
    with pytest.raises(ValueError, match="https"):
        apikeys.check_limits({"webhook": "http://hooks.example.com/k"})
