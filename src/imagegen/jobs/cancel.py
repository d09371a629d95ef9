"""`POST /v1/jobs/{id}/cancel`: stop a Replicate job (and its billing) and mark it canceled.

Idempotent: canceling a canceled job answers it again. A job that already succeeded or failed
is a `409` (there is nothing to stop). The prediction is canceled at Replicate first, then the
job record moves to `canceled` (forward-only, so a webhook that lands in between wins and the
answer is the 409 of a finished job).
"""

from __future__ import annotations

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
        from imagegen.providers import replicate

        try:
            replicate.cancel(job["prediction_id"])
        except Exception as exc:
            status, code, message = replicate.describe_error(exc)
            raise ApiError(status, code, message) from None
    job = records.update(job_id, lambda current: {**current, "status": "canceled", "error": "canceled by the client"})
    if job["status"] != "canceled":
        raise JobFinished(job)
    return job
