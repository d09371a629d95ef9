"""The worker: a job of a model that answers now (Bedrock, SageMaker), taken from its model's queue.

`Prefer: respond-async` (or a request too big for API Gateway's 29 s) queues the request (jobs.queued);
the worker function reads the model's queue through a Lambda event source mapping whose maximum
concurrency is sized to the model's quota, so a burst waits in the queue instead of failing. Here:
the job is taken (`running`, its attempts counted), its calls made a few at once, a throttled call
retried with jittered backoff until the job's timeout (never failed for throttling alone), the images
stored and the job finished. SQS delivers at least once: a job already finished is left as it is.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from imagegen import catalog, settings
from imagegen.errors import ApiError, JobNotFound
from imagegen.jobs import queued, records, run

log = logging.getLogger("imagegen")

# Kept back before the invocation's end to store what was made and finish the job.
MARGIN_SECONDS = 30.0


class Requeue(Exception):
    """This invocation's time ran out with only throttled calls left and the job's time not up: the message
    goes back on the queue (SQS delivers it again after its visibility timeout)."""


def work(job_id: str, deadline: float | None = None) -> str:
    """Run one queued job; what happened. Requeue when only throttled calls are left and the job's time
    is not up but this invocation's is."""
    try:
        job = records.get(job_id)
    except JobNotFound:
        log.warning("worker: job %s has no record; dropped", job_id)
        return "missing"
    if job["status"] in records.TERMINAL:
        return "finished_already"  # a second delivery, or canceled while it waited
    job = records.mark_running(job_id)
    if job["status"] in records.TERMINAL:
        return "finished_already"
    created = datetime.fromisoformat(job["created_at"])
    ends = created.timestamp() + settings.job_timeout_seconds()  # the job's timeout, as a wall-clock time
    until = time.monotonic() + ends - time.time()
    if deadline is not None:
        until = min(until, deadline - MARGIN_SECONDS)
    row, requests = queued.requests_of(job)
    work_list = run.calls_of(row, job["model"], requests)
    produced, failures = run.make(row, work_list, until)
    if failures and not produced:
        first = failures[0]
        if run.is_throttled(first) and time.time() < ends - 1:
            raise Requeue(job_id)
        if run.is_throttled(first):
            records.mark_failed(job_id, f"{row.name} kept throttling until the job's timeout", "timed_out")
            return "timed_out"
        message = first.message if isinstance(first, ApiError) else "the model call failed unexpectedly"
        records.mark_failed(job_id, message, first.code if isinstance(first, ApiError) else "internal_error")
        return "failed"
    produced = run.encoded(row, requests[0], produced)
    stored = run.put_images(job_id, job["provider"], produced, created.astimezone(timezone.utc))
    fields = catalog.image_cost(row.name, len(stored))
    if failures:
        fields["error"] = run.partial_error(job["model"], failures, len(work_list))
    records.finish(job_id, "succeeded", images=stored, **fields)
    return "succeeded"
