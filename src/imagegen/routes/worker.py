"""The work queues' consumer (a Lambda event source mapping per model, not HTTP): each message is one
queued job (imagegen.jobs.worker). A message whose job must run again later (throttled past this
invocation's time) or that failed unexpectedly is reported in `batchItemFailures`, so SQS delivers it
again after its visibility timeout (and to the dead-letter queue after maxReceiveCount)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from imagegen import logs
from imagegen.jobs import worker

log = logging.getLogger("imagegen")


def handle(event: dict, context: Any = None) -> dict:
    logs.setup()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = time.monotonic() + remaining() / 1000 if callable(remaining) else None
    failures = []
    for message in event.get("Records", []):
        try:
            job_id = json.loads(message["body"])["job_id"]
            outcome = worker.work(job_id, deadline)
            logs.metric("WorkerJobs", 1, outcome=outcome)
        except worker.Requeue:
            logs.metric("WorkerJobs", 1, outcome="requeued")
            failures.append({"itemIdentifier": message["messageId"]})
        except Exception:
            log.exception("worker: message %s failed; SQS delivers it again", message.get("messageId"))
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}
