"""The sweeper: no job stays `queued` or `running` forever.

Replicate retries a webhook for about a minute and then gives up; a throttled stage, a webhook
Lambda that timed out, output hosts down for longer than that, or a submit that crashed after
creating the prediction would each leave a job open for good. On a schedule (EventBridge), the
sweeper lists the open-job markers (`open/{job_id}`, one listing: O(open jobs), never a scan
of jobs/), and for each job open longer than SWEEPER_AFTER_SECONDS asks its provider for the
prediction (`read`) and finishes the job through the webhook's own code path
(jobs.outputs.apply_prediction). A queued job of a model that answers now is the worker's until its
timeout, then failed. A job still running after JOB_TIMEOUT_SECONDS is canceled at
Replicate (so it stops billing) and failed as timed out; so is a job whose prediction id was never
recorded. (Replicate itself ends a prediction at the same limit, the Cancel-After we submit with:
`aborted` if it never started, `canceled` if it did.) It also drops the budget reservations a crashed
function left past their expiry (jobs.limits.release_expired).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta, timezone

from imagegen import catalog, logs, providers, settings
from imagegen.errors import ApiError, JobNotFound
from imagegen.jobs import limits, outputs, records, usage

log = logging.getLogger("imagegen")


def sweep(now: datetime | None = None) -> dict[str, int]:
    """One pass over the open jobs; what was done, counted by action."""
    now = now or datetime.now(timezone.utc)
    actions: Counter[str] = Counter()
    for job_id, opened in records.open_jobs():
        if now - opened < timedelta(seconds=settings.sweeper_after_seconds()):
            actions["young"] += 1
            continue
        try:
            action = sweep_job(job_id, now)
        except Exception:  # one bad job must not stop the pass; it is tried again next time
            log.exception("sweeper: job %s could not be swept", job_id)
            action = "error"
        actions[action] += 1
        logs.metric("SweeperActions", 1, action=action)
    released = limits.release_expired(now.strftime("%Y-%m"))  # budgets a crashed function left blocked
    if released:
        actions["released_reservation"] += released
        logs.metric("SweeperActions", released, action="released_reservation")
    log.info("sweeper: %s", dict(actions))
    return dict(actions)


def sweep_job(job_id: str, now: datetime) -> str:
    try:
        job = records.get(job_id)
    except JobNotFound:
        records.close(job_id)  # a marker whose record expired
        return "orphan_marker"
    if job["status"] in records.TERMINAL:
        if usage.record(job):  # its usage may not be either (recorded once, whoever records it)
            records.close(job_id)  # finished, but the marker's removal was lost
        return "closed_marker"
    age = now - datetime.fromisoformat(job["created_at"])
    timed_out = age > timedelta(seconds=settings.job_timeout_seconds())
    prediction_id = job.get("prediction_id")
    if job.get("catalog_name") and not catalog.get(job["catalog_name"]).answers_later:
        # a queued job of a model that answers now: the worker has it (SQS delivers again) until its timeout
        if not timed_out:
            return "in_queue"
        fail(job_id, f"timed out: still {job['status']} after {settings.job_timeout_seconds()} s", "timed_out")
        return "timed_out"
    if not prediction_id:
        # The submitting Lambda (30 s at most) is long gone: the prediction id will never come.
        fail(job_id, "the prediction was never recorded: the submission did not complete", "submit_lost")
        return "failed_unsubmitted"
    provider = providers.named(job["provider"])
    try:
        prediction = provider.read(prediction_id)
    except Exception as exc:  # a 404, a provider that keeps failing: past the timeout the job ends anyway
        if not timed_out:
            raise
        log.warning("sweeper: prediction %s of timed-out job %s unreadable: %s", prediction_id, job_id, exc)
        prediction = None
    if prediction is not None and prediction.finished:
        try:
            job = outputs.apply_prediction(job, prediction)
        except ApiError as err:
            if err.status < 500:
                return "failed_output"  # apply_prediction recorded the permanent problem on the job
            if not timed_out:
                return "retry_later"  # outputs unreachable right now: the next pass tries again
            fail(job_id, f"timed out: the outputs could not be stored ({err.message})", "timed_out")
            return "timed_out"
        return f"finished_{job['status']}"
    if timed_out:
        try:
            provider.cancel(prediction_id)
        except Exception as exc:  # the job is failed all the same; Replicate ends it at its own limit
            log.warning("sweeper: could not cancel prediction %s: %s", prediction_id, type(exc).__name__)
        limit = settings.job_timeout_seconds()
        still = prediction.status if prediction else "unknown"
        fail(job_id, f"timed out: still {still} after {limit} s", "timed_out")
        return "timed_out"
    return "still_running"


def fail(job_id: str, error: str, code: str) -> None:
    records.mark_failed(job_id, error, code)
