"""`POST /v1/jobs/{id}/cancel`: stop a job (and its billing) and mark it canceled.

Idempotent: canceling a canceled job answers it again. A job that already succeeded or failed
is a `409` (there is nothing to stop). A prediction of a provider that answers later is canceled
there first; a queued job of a model that answers now is only marked (the worker leaves a canceled
job alone). The record moves to `canceled` forward-only, so a webhook or a worker that finishes in
between wins and the answer is the 409 of a finished job.
"""

from __future__ import annotations

from imagegen import providers
from imagegen.errors import ApiError, JobFinished
from imagegen.jobs import records


def cancel(job_id: str, owner: str | None = None) -> dict:
    """The job, canceled; JobNotFound (404, also for another key's job) or JobFinished (409) otherwise."""
    job = records.get_for(job_id, owner)
    if job["status"] == "canceled":
        return job
    if job["status"] in records.TERMINAL:
        raise JobFinished(job)
    if job.get("prediction_id"):
        provider = providers.named(job["provider"])
        try:
            provider.cancel(job["prediction_id"])
        except Exception as exc:
            status, code, message = provider.describe_error(exc)
            raise ApiError(status, code, message) from None
    job = records.mark_canceled(job_id)
    if job["status"] != "canceled":
        raise JobFinished(job)
    return job
