"""The queues of `make serve`, as Terraform's queues.tf makes them, in LocalStack's SQS; and Lambda's
queue pollers (event source mappings) for them, in this process.

ensure(): a work queue for each enabled model that answers now, the webhook delivery queue and the
dead-letter queues (redrive after MAX_RECEIVES), their URLs set in the environment the handlers read
(WORK_QUEUES, DELIVERY_QUEUE_URL, DELIVERY_DEAD_LETTER_URL), as Terraform sets them.

Poller: what an SQS event source mapping does for a function: long-polls its queue, hands the
messages to the handler as Lambda's SQS event (Records with messageId, receiptHandle, body,
attributes, eventSource), at most `concurrency` invocations at once (ScalingConfig.MaximumConcurrency),
deletes the messages the handler did not report in `batchItemFailures` (ReportBatchItemFailures), and
leaves those to come back after the visibility timeout; a handler that raises fails the whole batch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

log = logging.getLogger("imagegen.localdev")

MAX_RECEIVES = 5  # then the dead-letter queue (queues.tf's redrive policy)
# Locally a worker invocation may take this long; its queue hides a message for as long (Terraform: 6x).
WORKER_SECONDS = 120
DELIVER_SECONDS = 30


def sqs():
    import boto3

    return boto3.client("sqs", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))


def make_queue(name: str, visibility: int, dead_letter: str | None = None) -> str:
    client = sqs()
    attributes = {"VisibilityTimeout": str(visibility)}
    if dead_letter:
        arn = client.get_queue_attributes(QueueUrl=dead_letter, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVES})
    return client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def queued_models() -> list[str]:
    """The catalog names of the enabled models that answer now (generate and edit)."""
    from imagegen import catalog

    names = dict.fromkeys(model.name for function in ("generate", "edit") for model in catalog.enabled(function))
    return [name for name in names if not catalog.get(name).answers_later]


def ensure(prefix: str = "imagegen-local") -> dict[str, Any]:
    """The queues, made (or found) in LocalStack, and the environment pointed at them."""
    work_dead = make_queue(f"{prefix}-work-dead-letter", 30)
    work = {
        name: make_queue(f"{prefix}-work-{name.replace('.', '-')}", WORKER_SECONDS, work_dead)
        for name in queued_models()
    }
    delivery_dead = make_queue(f"{prefix}-webhook-dead-letter", 30)
    deliveries = make_queue(f"{prefix}-webhook-deliveries", DELIVER_SECONDS, delivery_dead)
    os.environ["WORK_QUEUES"] = json.dumps(work)
    os.environ["DELIVERY_QUEUE_URL"] = deliveries
    os.environ["DELIVERY_DEAD_LETTER_URL"] = delivery_dead
    os.environ.setdefault("IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK", "1")  # a developer's own receiver on 127.0.0.1
    return {"work": work, "deliveries": deliveries, "dead_letters": [work_dead, delivery_dead]}


class LocalContext:
    def __init__(self, name: str, seconds: int):
        self.function_name = name
        self.aws_request_id = uuid.uuid4().hex
        self._deadline = time.time() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class Poller:
    """One event source mapping: a queue, a function, its maximum concurrency and batch size."""

    def __init__(self, queue_url: str, handler: Callable, name: str, concurrency: int, batch: int, seconds: int):
        self.queue_url, self.handler, self.name = queue_url, handler, name
        self.concurrency, self.batch, self.seconds = concurrency, batch, seconds
        self.stopped = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> Poller:
        for n in range(self.concurrency):
            thread = threading.Thread(target=self.run, name=f"{self.name}-poller-{n}", daemon=True)
            thread.start()
            self.threads.append(thread)
        return self

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        client = sqs()
        while not self.stopped.is_set():
            try:
                found = client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch,
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # LocalStack stopping under us: try again shortly
                log.debug("%s: receive failed: %s", self.name, exc)
                time.sleep(0.5)
                continue
            if found:
                self.invoke(client, found)

    def invoke(self, client, messages: list[dict]) -> None:
        event = {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                }
                for m in messages
            ]
        }
        try:
            answer = self.handler(event, LocalContext(self.name, self.seconds)) or {}
            failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        except Exception:
            log.exception("%s: the handler raised; the batch comes back after its visibility timeout", self.name)
            return
        for m in messages:
            if m["MessageId"] not in failed:
                client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])


def start_pollers(load: Callable[[str], Callable], queues: dict[str, Any]) -> list[Poller]:
    """The event source mappings of queues.tf: each model's work queue to the worker (at the model's
    concurrency: 2, the least, where its quota is unknown), the deliveries to the deliverer."""
    from imagegen import settings

    quotas = settings.model_quotas()
    pollers = [
        Poller(url, load("worker"), f"worker-{name}", max(2, -(-quotas.get(name, 12) // 6)), 1, WORKER_SECONDS)
        for name, url in queues["work"].items()
    ]
    pollers.append(Poller(queues["deliveries"], load("deliver"), "deliver", 5, 10, DELIVER_SECONDS))
    return [poller.start() for poller in pollers]
