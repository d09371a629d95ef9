"""Carrying out an Order: the one "answer now" path and the one "answer later" path of every route.

- now(): the sync model (Bedrock, SageMaker) makes the images, a few calls at once (CALLS_IN_FLIGHT;
  a generation is one request, an edit one per uploaded image, each as many calls as its images need);
  what the calls made is kept even if some fail; each image is stored under
  images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} with its sniffed content type and a job record is
  written `succeeded`.
- later(): a job record `queued` (open_job), then the Replicate prediction that calls our webhook
  (submit); the webhook stores the images (jobs.outputs). If Replicate refuses or cannot be reached
  the job is recorded `failed` with the reason and SubmitFailed (a 502/503) is raised, so nothing is
  left half-written.

Both return job records; the routes shape the answers (imagegen.api.answers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from imagegen import bucket, catalog, providers, settings
from imagegen.errors import ApiError, ConfigError, ProviderError, SubmitFailed
from imagegen.images import formats
from imagegen.jobs import limits, records
from imagegen.orders import CALLS_IN_FLIGHT, Order, Params

log = logging.getLogger("imagegen")


# -- now ----------------------------------------------------------------------------------------


def now(order: Order, requests: list[Params], **extra: Any) -> tuple[dict, list[bytes]]:
    """Make every model call of the requests (a generation is one request, an edit one per uploaded
    image; each may be several calls), CALLS_IN_FLIGHT at once; the succeeded job and the images' bytes.

    A call that fails does not throw away what the others made (and the provider billed): the images
    made are stored and recorded (their usage too), the job's `error` says how many calls failed and
    why. Only when no call made anything is the first failure the answer."""
    work = [call for params in requests for call in providers.calls(order.row, order.model, params)]
    held = admit(order, sum(params.n for params in requests), SYNC_HOLD_SECONDS)  # before anything is called
    reservation = held.share(held.usd) if held else None  # settled below to what was made
    results = bounded(attempt, work)
    produced = [image for result in results if not isinstance(result, Exception) for image in result]
    failures = [result for result in results if isinstance(result, Exception)]
    if failures and not produced:
        limits.settle(reservation, 0.0)
        raise failures[0]
    if catalog.recompresses(order.row.name, order.params.compression):
        from imagegen.images import pillow

        produced = [pillow.recompressed(image, "output", order.params.compression) for image in produced]
    if failures:
        reason = failures[0].message if isinstance(failures[0], ApiError) else "an unexpected error"
        extra["error"] = f"{len(failures)} of {len(work)} model calls failed ({reason}); the images made are kept"
        log.warning("%s: %s", order.model, extra["error"])
    job = store(order, produced, **extra)
    limits.settle(reservation, job.get("cost_usd") or 0.0)
    return job, produced


# A sync request's reservation outlives any call it makes (API Gateway's 30 s; Lambda's timeout at most
# 15 min): past this, a reservation a crashed function left behind stops counting.
SYNC_HOLD_SECONDS = 900


def admit(order: Order, images: int, hold_seconds: float) -> limits.Held | None:
    """The one place a request meets its key's limits (models, requests per minute, budgets), before
    any model is called: the 403 or 429 is raised here; a budget's reservation is returned to settle."""
    return limits.admit(order.row, order.owner, order.limits, images, hold_seconds)


def async_hold_seconds() -> float:
    """An async job's reservation lasts until the sweeper has surely ended it."""
    return settings.job_timeout_seconds() + settings.sweeper_after_seconds() + 900


def attempt(call: Callable[[], list[bytes]]) -> list[bytes] | Exception:
    """One model call's images, or what it raised (so one call cannot hide what the others made)."""
    try:
        return call()
    except ApiError as exc:
        return exc
    except Exception as exc:
        log.exception("a model call failed unexpectedly")
        return exc


def bounded(work: Callable[[Any], Any], items: list) -> list:
    """work(item) for each item, in order, at most CALLS_IN_FLIGHT at once (a request's model calls:
    what bounds its memory and its burst against the provider's quota)."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), CALLS_IN_FLIGHT), thread_name_prefix="run") as pool:
        return list(pool.map(work, items))


def store(order: Order, produced: list[bytes], **extra: Any) -> dict:
    """Put each image under a fresh key and write the job record `succeeded`."""
    job_id = bucket.new_job_id()
    when = datetime.now(timezone.utc)
    stored = []
    for n, data in enumerate(produced):
        content_type = formats.sniff(data)
        if content_type is None:
            raise ProviderError(f"{order.provider} returned something that is not an image")
        key = bucket.image_key(job_id, n, content_type, when)
        if not bucket.put_new(key, data, content_type):
            raise RuntimeError(f"image key {key} already exists")  # a fresh uuid4 job id: never
        stored.append({"key": key, "content_type": content_type, "bytes": len(data)})
    if settings.models_offline():
        extra["offline"] = True
    extra |= catalog.image_cost(order.row.name, len(stored))
    job = records.new_job(
        job_id,
        provider=order.provider,
        model=order.model,
        status="succeeded",
        prompt=order.params.prompt,
        parameters=order.params.recorded(),
        images=stored,
        **order.who(),
        **extra,
    )
    return records.create(job)


# -- later --------------------------------------------------------------------------------------


def later(order: Order, model_input: dict, webhook: str, **extra: Any) -> dict:
    """A queued job and its prediction, submitted; the job as stored (SubmitFailed: recorded failed).
    Its key's limits are checked first; its reservation is settled when the job ends (records)."""
    held = admit(order, order.params.n, async_hold_seconds())
    if held:
        extra["reservation"] = held.share(held.usd)
    job_id = bucket.new_job_id()
    open_job(order, job_id, prompt=order.params.prompt, **extra)
    return submit(order.model, model_input, job_id, webhook)


def open_job(order: Order, job_id: str, **extra: Any) -> dict:
    """Write the `queued` record of an async job (before its prediction exists)."""
    if settings.replicate_offline():
        extra["offline"] = True
    return records.create(records.new_job(job_id, provider="replicate", model=order.model, **order.who(), **extra))


def submit(model_ref: str, model_input: dict, job_id: str, webhook_url: str) -> dict:
    """Create a prediction for an open job that calls back `webhook_url`; record its id on the job and
    return the job as stored (no read back: the conditional update answers with it)."""
    from imagegen.providers import replicate

    try:
        prediction = replicate.create(model_ref, model_input, replicate.job_webhook_url(webhook_url, job_id))
    except ConfigError:
        records.update(job_id, lambda job: {**job, "status": "failed", "error": "the service is not configured"})
        raise
    except Exception as exc:
        status, code, message = replicate.describe_error(exc)
        log.warning("job %s: replicate submit failed: %s", job_id, message)
        job = records.update(job_id, lambda job: {**job, "status": "failed", "error": message})
        raise SubmitFailed(status, code, message, job) from None

    def record(job: dict) -> dict:
        job["prediction_id"] = prediction.get("id")
        job["status"] = replicate.STATUS.get(prediction.get("status", ""), job["status"])
        if settings.replicate_offline():
            job["offline"] = True
        return job

    job = records.update(job_id, record)
    log.info("job %s: prediction %s submitted to %s", job_id, prediction.get("id"), model_ref)
    return job
