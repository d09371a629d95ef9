"""The delivery queue's consumer (an event source mapping, not HTTP): each message is one attempt to
POST a job's signed event to the caller's webhook (imagegen.jobs.webhooks). The next attempt is a new
message; only an unexpected failure is reported in `batchItemFailures` (SQS delivers it again)."""

from __future__ import annotations

import json
import logging
from typing import Any

from imagegen import logs
from imagegen.jobs import webhooks

log = logging.getLogger("imagegen")


def handle(event: dict, context: Any = None) -> dict:
    logs.setup()
    failures = []
    for message in event.get("Records", []):
        try:
            webhooks.deliver(json.loads(message["body"]))
        except Exception:
            log.exception("deliver: message %s failed; SQS delivers it again", message.get("messageId"))
            failures.append({"itemIdentifier": message["messageId"]})
    return {"batchItemFailures": failures}
