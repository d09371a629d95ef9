"""Webhooks to the caller: when a job ends, a signed event POSTed to the URL the request (or its key)
named, delivered at least once.

- The target: a request's `webhook` (https; Replicate's field name) and `webhook_events_filter`
  (`completed`, or some of succeeded/failed/canceled), else the key's default webhook. Checked by the
  SSRF guard's rules when the request comes (a 400 naming `webhook`) and again, resolved and pinned,
  at every attempt (images.fetch.post: public https only, no redirect followed).
- The signature: Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`), keyed with
  the caller's key's own `whsec_` secret (webhooks/secrets/{key id}.json, made on first use; the caller
  reads it from GET /v1/webhooks/default/secret). The `webhook-id` is the event's id: the same on every
  attempt, so a receiver can drop a repeat.
- The schedule: attempts at once, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (Standard
  Webhooks' own; WEBHOOK_RETRY_SECONDS for tests), each with ATTEMPT_SECONDS to answer. A 2xx ends it;
  410 Gone stops it; after the last attempt the message goes to the dead-letter queue (alarmed). SQS
  delays a message 15 min at most, so a later attempt is carried forward in 15-minute hops.
- The job record shows the deliveries (`webhook.deliveries`: attempts, last status, state).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from imagegen import bucket, logs, settings
from imagegen.api import answers, signatures
from imagegen.errors import ApiError, JobNotFound, invalid
from imagegen.images import fetch
from imagegen.jobs import notify, records

log = logging.getLogger("imagegen")

ATTEMPT_SECONDS = 10.0
SECRETS = "webhooks/secrets/"
NO_KEY = "_deployment"  # whose secret signs the events of a deployment without API keys


# -- the target ----------------------------------------------------------------------------------


def target(values: dict, key_default: str | None = None) -> dict | None:
    """The request's webhook (`webhook`, `webhook_events_filter`) or the key's default, checked; None
    when there is none. A 400 naming the field for anything wrong."""
    url = values.get("webhook")
    events = values.get("webhook_events_filter")
    if url in (None, ""):
        if events not in (None, "", []):
            raise invalid("webhook_events_filter", "goes with a webhook URL; send webhook too")
        url = key_default
        if not url:
            return None
    if isinstance(events, str):  # a form field: comma-separated, or JSON
        events = json.loads(events) if events.startswith("[") else [e.strip() for e in events.split(",") if e.strip()]
    events = events or ["completed"]
    if not isinstance(events, list) or not all(isinstance(e, str) and e in notify.EVENTS for e in events):
        raise invalid("webhook_events_filter", f"must be a list of {', '.join(notify.EVENTS)}")
    return {"url": check_url(url), "events": sorted(set(events))}


def check_url(url: object) -> str:
    """An https URL the guard would POST to (http://127.0.0.1 only under make serve)."""
    if fetch.loopback_http(url, settings.webhook_loopback_allowed()):
        return url
    return fetch.check_url(url, "webhook")


# -- the secret ----------------------------------------------------------------------------------


def secret_for(owner: str | None) -> str:
    """The key's signing secret, made on first use (two first uses at once: the first write wins and
    both answer with it)."""
    key = f"{SECRETS}{owner or NO_KEY}.json"
    found, _ = bucket.read_json(key)
    if found is None:
        bucket.write_json(key, {"key": signatures.new_secret(), "created_at": records.now()}, None)
        found, _ = bucket.read_json(key)
    return found["key"]


# -- the event -----------------------------------------------------------------------------------


def event_id(job_id: str) -> str:
    return f"evt_{job_id.replace('-', '')}"


def event(job: dict) -> dict:
    """The event of a job that ended: `type` job.<status>, and the job as GET /v1/jobs/{id} shows it
    (fresh presigned URLs, cost)."""
    data = answers.job_view(job)
    data.pop("webhook", None)
    return {
        "id": event_id(job["id"]),
        "object": "event",
        "type": f"job.{job['status']}",
        "created_at": int(time.time()),
        "data": data,
    }


# -- delivery ------------------------------------------------------------------------------------


def schedule() -> list[float]:
    """Seconds before each attempt after the one before it (the first: 0)."""
    return settings.webhook_retry_seconds()


def deliver(message: dict) -> str:
    """One message of the delivery queue: an attempt, or a hop towards one; what happened."""
    due = float(message.get("due") or 0)
    if due - time.time() > 1:  # not yet: SQS held it its 15 minutes, carry it forward
        notify.send(message, due - time.time())
        return "carried"
    try:
        job = records.get(message["job_id"])
    except JobNotFound:  # its record expired (the bucket's lifecycle): nothing left to tell
        log.warning("webhook for job %s dropped: the job has no record", message.get("job_id"))
        return "missing"
    hook = job.get("webhook") or {}
    attempt = int(message.get("attempt") or 1)
    status, state = post(job, hook["url"]), "retrying"
    if status is not None and 200 <= status < 300:
        state = "delivered"
    elif status == 410:
        state = "gone"  # the receiver asked for no more
    elif attempt >= len(schedule()):
        state = "dead"
    wait = schedule()[attempt] if state == "retrying" else None
    record(job["id"], hook, attempt, status, state, wait)
    logs.metric("WebhookAttempts", 1, outcome=state)
    if state == "retrying":
        notify.send({**message, "attempt": attempt + 1, "due": time.time() + wait}, wait)
    elif state == "dead":
        notify.send(message, 0, settings.delivery_dead_letter_url())
        log.warning("job %s: webhook not delivered after %d attempts (last status %s)", job["id"], attempt, status)
    return state


def post(job: dict, url: str) -> int | None:
    """One signed POST of the job's event; the receiver's status, None when it could not be reached."""
    body = json.dumps(event(job), separators=(",", ":")).encode()
    headers = signatures.signed_headers(secret_for(job.get("owner")), event_id(job["id"]), body)
    try:
        return fetch.post(
            url, body, headers, timeout=ATTEMPT_SECONDS, allow_loopback_http=settings.webhook_loopback_allowed()
        )
    except ApiError as err:  # refused (an address that turned private) or unreachable: a failed attempt
        log.info("job %s: webhook attempt failed: %s", job["id"], err.message)
        return None


def record(job_id: str, hook: dict, attempt: int, status: int | None, state: str, wait: float | None) -> None:
    when = datetime.now(timezone.utc)
    deliveries: dict[str, Any] = {
        "id": event_id(job_id),
        "attempts": attempt,
        "last_status": status,
        "last_attempt_at": when.isoformat(timespec="seconds"),
        "state": state,
    }
    if wait is not None:
        deliveries["next_attempt_at"] = datetime.fromtimestamp(when.timestamp() + wait, timezone.utc).isoformat(
            timespec="seconds"
        )
    records.annotate(job_id, "webhook", {**hook, "deliveries": deliveries})
