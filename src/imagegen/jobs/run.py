"""Carrying out an Order now: every model call of a model that answers now (imagegen.providers.contract).

now(): the model makes the images within the request, a few calls at once (CALLS_IN_FLIGHT; a generation
is one request, an edit one per uploaded image, each as many calls as its images need); a throttled call
is retried with jittered backoff while the sync deadline allows, then the request is a 429 whose
Retry-After comes from the model's quota; what the calls made is kept even if some fail; each image is
stored under images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} and a job record is written `succeeded`. The
worker (jobs.worker) makes a queued job's calls with the same parts (make, encoded, put_images).

The same request as a job is jobs.queued; a model that answers later, jobs.later. All return job
records; the routes shape the answers (imagegen.api).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from imagegen import bucket, catalog, providers, settings
from imagegen.catalog import Model
from imagegen.errors import ApiError, ProviderError
from imagegen.images import formats
from imagegen.jobs import limits, records
from imagegen.orders import CALLS_IN_FLIGHT, Order, Params
from imagegen.providers import runtime

log = logging.getLogger("imagegen")

# A sync request's throttled calls are retried only while this many seconds of its budget (API Gateway's
# 29 s, providers.runtime) remain after the wait: the call itself must still fit.
SYNC_CALL_ROOM_SECONDS = 12.0
SYNC_BUDGET_SECONDS = runtime.SYNC_BUDGET_SECONDS
# Backoff between throttled attempts: full jitter (AWS Builders' Library, "Timeouts, retries, and
# backoff with jitter"), random(0, min(cap, base * 2^attempt)).
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# A sync request's reservation outlives any call it makes (API Gateway's 30 s; Lambda's timeout at most
# 15 min): past this, a reservation a crashed function left behind stops counting.
SYNC_HOLD_SECONDS = 900


# -- now ----------------------------------------------------------------------------------------


def now(order: Order, requests: list[Params], **extra: Any) -> tuple[dict, list[bytes]]:
    """Make every model call of the requests, CALLS_IN_FLIGHT at once; the succeeded job and the images.

    A call that fails does not throw away what the others made (and the provider billed): the images
    made are stored and recorded (their usage too), the job's `error` says how many calls failed and
    why. Only when no call made anything is the first failure the answer."""
    work = calls_of(order.row, order.model, requests)
    held = admit(order, sum(params.n for params in requests), SYNC_HOLD_SECONDS)  # before anything is called
    reservation = held.share(held.usd) if held else None  # settled below to what was made
    until = time.monotonic() + SYNC_BUDGET_SECONDS - SYNC_CALL_ROOM_SECONDS
    produced, failures = make(order.row, work, until)
    if failures and not produced:
        limits.settle(reservation, 0.0)
        raise failures[0]
    if failures:
        extra["error"] = partial_error(order.model, failures, len(work))
    produced = encoded(order.row, order.params, produced)
    job = store(order, produced, **extra)
    limits.settle(reservation, job.get("cost_usd") or 0.0)
    return job, produced


def calls_of(row: Model, model: str, requests: list[Params]) -> list[Callable[[], list[bytes]]]:
    return [call for params in requests for call in providers.calls(row, model, params)]


def make(row: Model, work: list[Callable[[], list[bytes]]], until: float) -> tuple[list[bytes], list[Exception]]:
    """The images the calls made and the calls' failures; throttled calls retried until `until`."""
    results = bounded(lambda call: attempt(call, row, until), work)
    produced = [image for result in results if not isinstance(result, Exception) for image in result]
    failures = [result for result in results if isinstance(result, Exception)]
    throttled = [f for f in failures if is_throttled(f)]
    if throttled:  # the 429 says when the quota has room for what was refused
        failures = [throttled_error(row, len(throttled)) if is_throttled(f) else f for f in failures]
    return produced, failures


def partial_error(model: str, failures: list[Exception], calls: int) -> str:
    reason = failures[0].message if isinstance(failures[0], ApiError) else "an unexpected error"
    message = f"{len(failures)} of {calls} model calls failed ({reason}); the images made are kept"
    log.warning("%s: %s", model, message)
    return message


def encoded(row: Model, params: Params, produced: list[bytes]) -> list[bytes]:
    """The images at the output_compression asked for, where the model has no setting of its own."""
    if not catalog.recompresses(row.name, params.compression):
        return produced
    from imagegen.images import pillow

    return [pillow.recompressed(image, "output", params.compression) for image in produced]


def admit(order: Order, images: int, hold_seconds: float) -> limits.Held | None:
    """The one place a request meets its key's limits (models, requests per minute, budgets), before
    any model is called: the 403 or 429 is raised here; a budget's reservation is returned to settle."""
    return limits.admit(order.row, order.owner, order.limits, images, hold_seconds)


def async_hold_seconds() -> float:
    """An async job's reservation lasts until the sweeper has surely ended it."""
    return settings.job_timeout_seconds() + settings.sweeper_after_seconds() + 900


def is_throttled(result: object) -> bool:
    return isinstance(result, ApiError) and result.status == 429 and result.code == "throttled"


def backoff(tries: int) -> float:
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**tries))


def attempt(call: Callable[[], list[bytes]], row: Model, until: float) -> list[bytes] | Exception:
    """One model call's images, or what it raised (so one call cannot hide what the others made); a
    throttled call is tried again after a jittered backoff while the wait ends before `until`."""
    tries = 0
    while True:
        try:
            return call()
        except ApiError as exc:
            if not is_throttled(exc):
                return exc
            wait = backoff(tries)
            if time.monotonic() + wait > until:
                return exc
            tries += 1
            time.sleep(wait)
        except Exception as exc:
            log.exception("a model call failed unexpectedly")
            return exc


def throttled_error(row: Model, refused: int) -> ApiError:
    """The 429 of calls the provider kept throttling: Retry-After is when the model's quota (requests
    per minute: MODEL_QUOTAS, else the catalog's) has made room for them again; unknown, the backoff's cap."""
    quota = quota_per_minute(row)
    seconds = math.ceil(60 * refused / quota) if quota else int(BACKOFF_CAP_SECONDS)
    message = (
        f"{row.name} is throttling requests (its quota"
        + (f" is {quota} a minute" if quota else " was reached")
        + "); retry after the time in Retry-After, or send Prefer: respond-async to queue the request"
    )
    return ApiError(429, "throttled", message, retry_after=max(1, seconds))


def quota_per_minute(row: Model) -> int | None:
    """The model's request quota per minute on this account: the operator's (MODEL_QUOTAS), else the
    catalog's (null where AWS publishes none)."""
    return settings.model_quotas().get(row.name) or row.limit("requests_per_minute")


def bounded(work: Callable[[Any], Any], items: list) -> list:
    """work(item) for each item, in order, at most CALLS_IN_FLIGHT at once (a request's model calls:
    what bounds its memory and its burst against the provider's quota)."""
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(len(items), CALLS_IN_FLIGHT), thread_name_prefix="run") as pool:
        return list(pool.map(work, items))


def put_images(job_id: str, provider: str, produced: list[bytes], when: datetime) -> list[dict]:
    """Each image under a fresh key of the job; the job record's image entries."""
    stored = []
    for n, data in enumerate(produced):
        content_type = formats.sniff(data)
        if content_type is None:
            raise ProviderError(f"{provider} returned something that is not an image")
        key = bucket.image_key(job_id, n, content_type, when)
        if not bucket.put_new(key, data, content_type):
            log.info("job %s: %s was already stored", job_id, key)  # a worker's second delivery
        stored.append({"key": key, "content_type": content_type, "bytes": len(data)})
    return stored


def store(order: Order, produced: list[bytes], **extra: Any) -> dict:
    """Put each image under a fresh key and write the job record `succeeded`."""
    job_id = bucket.new_job_id()
    stored = put_images(job_id, order.provider, produced, datetime.now(timezone.utc))
    extra |= catalog.image_cost(order.row.name, len(stored))
    return records.create(new_job(order, job_id, status="succeeded", images=stored, **extra))


def new_job(order: Order, job_id: str, **fields: Any) -> dict:
    """The record of a job of a model that answers now: made at once (store), or queued (jobs.queued)."""
    if settings.models_offline():
        fields["offline"] = True
    return records.new_job(
        job_id,
        provider=order.provider,
        model=order.model,
        prompt=order.params.prompt,
        parameters=order.params.recorded(),
        **order.who(),
        **fields,
    )
