"""A job that just ended and names a webhook: its delivery goes on the delivery queue (jobs.webhooks
delivers it). Called by jobs.records the moment a job reaches succeeded, failed or canceled, whoever
ended it (the route, the worker, the provider's webhook, a cancel, the sweeper)."""

from __future__ import annotations

import json
import logging
import time

from imagegen import aws, logs, settings

log = logging.getLogger("imagegen")

# A webhook's `events`: what a caller may ask for (Replicate's `completed` is every end).
ENDINGS = ("succeeded", "failed", "canceled")
EVENTS = ("completed", *ENDINGS)


def wanted(job: dict) -> bool:
    hook = job.get("webhook")
    if not isinstance(hook, dict) or not hook.get("url"):
        return False
    events = hook.get("events") or ["completed"]
    return "completed" in events or job["status"] in events


def job_ended(job: dict) -> None:
    """Queue the first delivery attempt (at once). A queue that refuses is logged and counted
    (WebhooksNotQueued, alarmed): the job itself has ended either way."""
    if not wanted(job):
        return
    message = {"job_id": job["id"], "attempt": 1, "due": time.time()}
    try:
        send(message, 0)
    except Exception as exc:
        if not aws.is_aws_error(exc) and not isinstance(exc, ValueError):
            raise
        log.error("job %s: its webhook delivery could not be queued: %s", job["id"], exc)
        logs.metric("WebhooksNotQueued", 1)


def send(message: dict, delay_seconds: float, queue_url: str | None = None) -> None:
    url = queue_url or settings.delivery_queue_url()
    if not url:
        raise ValueError("DELIVERY_QUEUE_URL is not set: webhooks to callers are off")
    delay = max(0, min(900, int(delay_seconds + 0.999)))  # SQS: 0..900 s (SendMessage's DelaySeconds)
    aws.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(message), DelaySeconds=delay)
