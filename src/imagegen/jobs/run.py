"""Carrying out an Order: every model through the provider contract (imagegen.providers.contract).

- now(): a model that answers now (Bedrock, SageMaker) makes the images within the request, a few
  calls at once (CALLS_IN_FLIGHT; a generation is one request, an edit one per uploaded image, each as
  many calls as its images need); a throttled call is retried with jittered backoff while the sync
  deadline allows, then the request is a 429 whose Retry-After comes from the model's quota; what the
  calls made is kept even if some fail; each image is stored under
  images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} and a job record is written `succeeded`.
- queued(): the same request as a job (`Prefer: respond-async`): its sources go to uploads/{job_id}/,
  a `queued` record, and a message on its model's queue; the worker (jobs.worker) makes it at the
  model's quota.
- later(): a model that answers later (Replicate): one job per prediction (n per image of an edit,
  each image uploaded once), submitted with our webhook; the webhook stores the images (jobs.outputs).
  A job the provider refused is recorded `failed` and returned with its `_failure`.

All return job records; the routes shape the answers (imagegen.api).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from imagegen import aws, bucket, catalog, providers, settings
from imagegen.catalog import Model
from imagegen.errors import ApiError, ConfigError, ProviderError, SubmitFailed
from imagegen.images import formats
from imagegen.jobs import limits, records
from imagegen.orders import CALLS_IN_FLIGHT, Order, Params, Source

log = logging.getLogger("imagegen")

# A sync request's throttled calls are retried only while this many seconds of API Gateway's 30 s
# remain after the wait (the call itself must still fit).
SYNC_CALL_ROOM_SECONDS = 12.0
SYNC_BUDGET_SECONDS = 29.0
# Backoff between throttled attempts: full jitter (AWS Builders' Library, "Timeouts, retries, and
# backoff with jitter"), random(0, min(cap, base * 2^attempt)).
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# A sync request's reservation outlives any call it makes (API Gateway's 30 s; Lambda's timeout at most
# 15 min): past this, a reservation a crashed function left behind stops counting.
SYNC_HOLD_SECONDS = 900
# Replicate may queue a prediction for a while before it fetches the input; a queued job's sources wait
# in the bucket, read by the worker.
UPLOAD_URL_EXPIRY_SECONDS = 3600


class Requeue(Exception):
    """The worker ran out of its invocation's time with only throttled calls left and the job's time not
    up: the message goes back on the queue (SQS delivers it again after its visibility timeout)."""


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


# -- queued: a model that answers now, as a job --------------------------------------------------


def queued(order: Order, requests: list[Params], **extra: Any) -> dict:
    """A job for the worker: the key's limits first; each source (and the mask) in uploads/{job_id}/;
    the `queued` record (what the worker needs: catalog row, settings, source keys); the message on
    the model's queue. A queue that refuses it fails the job (503), so nothing waits for nothing."""
    queue_url = settings.work_queues().get(order.row.name)
    if not queue_url:
        raise ConfigError(f"no work queue for {order.row.name} (WORK_QUEUES)")
    held = admit(order, sum(params.n for params in requests), async_hold_seconds())
    if held:
        extra["reservation"] = held.share(held.usd)
    job_id = bucket.new_job_id()
    sources = []
    for n, params in enumerate(requests):
        if params.image is not None:
            key = bucket.upload_key(job_id, n, formats.sniff(params.image) or "image/png")
            bucket.put_new(key, params.image, formats.sniff(params.image) or "image/png")
            sources.append(key)
    if order.params.mask is not None:
        extra["mask_key"] = f"uploads/{job_id}/mask.png"
        bucket.put_new(extra["mask_key"], order.params.mask, "image/png")
    if settings.models_offline():
        extra["offline"] = True
    job = records.new_job(
        job_id,
        provider=order.provider,
        model=order.model,
        catalog_name=order.row.name,
        prompt=order.params.prompt,
        parameters=order.params.recorded(),
        upload_keys=sources,
        **order.who(),
        **extra,
    )
    job = records.create(job)
    try:
        aws.client("sqs").send_message(QueueUrl=queue_url, MessageBody=json.dumps({"job_id": job_id}))
    except Exception as exc:
        if not aws.is_aws_error(exc):
            raise
        log.error("job %s: the work queue refused it: %s", job_id, aws.error_code(exc) or type(exc).__name__)
        records.mark_failed(job_id, "the job could not be queued; retry", "queue_unavailable")
        raise ApiError(503, "queue_unavailable", "the job could not be queued right now; retry") from None
    return job


def requests_of(job: dict) -> tuple[Model, list[Params]]:
    """A queued job's catalog row and requests, as queued() wrote them (one per source, or the one
    generation)."""
    row = catalog.get(job["catalog_name"])
    params = Params(prompt=job.get("prompt") or "", **(job.get("parameters") or {}))
    if job.get("mask_key"):
        params = replace(params, mask=bucket.read(job["mask_key"]))
    keys = job.get("upload_keys") or []
    return row, [replace(params, image=bucket.read(key)) for key in keys] or [params]


# -- later: a model that answers later ----------------------------------------------------------


def later(order: Order, webhook: str, **extra: Any) -> list[dict]:
    """One job per prediction: a generation's one, or n for each image of an edit, CALLS_IN_FLIGHT at a
    time, each image (and the mask) uploaded once and shared by its n jobs. Never raises for one job's
    trouble: a job that could not start is returned failed with its `_failure` (ApiError), so it cannot
    hide the others, whose predictions are already billed. The key's limits are checked first."""
    provider = providers.of(order.row)
    if hasattr(provider, "client"):
        provider.client()  # the token is read (or the config error raised) before anything is written
    aws.client("s3")  # made here, once: client creation from one session is not thread-safe
    if order.sources:  # an edit: the model makes one image per prediction, so n jobs per image
        sources, per_source, per_job = list(order.sources), order.params.n, replace(order.params, n=1)
    else:  # a generation: one prediction makes its n images
        sources, per_source, per_job = [None], 1, order.params
    held = admit(order, len(sources) * order.params.n, async_hold_seconds())  # before anything is uploaded
    reservation = held.share(held.usd / (len(sources) * per_source)) if held else None  # each job settles its part
    uploads = bounded(lambda source: upload(order, source), sources)
    work = [  # the first job of each image keeps the id its upload is filed under
        (source, shared, shared.get("first_job_id") if k == 0 else None)
        for source, shared in zip(sources, uploads, strict=True)
        for k in range(per_source)
    ]
    return bounded(lambda item: start_job(order, per_job, *item, webhook, reservation, extra), work)


def upload(order: Order, source: Source | None) -> dict:
    """The source (and the mask) in uploads/{id}/, once for all its jobs, and what the provider fetches
    it by: {"image", "mask_url", "extra"} (an image_url is passed as it is), or {"failure": ApiError}."""
    if source is None:
        return {"image": None, "mask_url": None, "extra": {}}
    if source.data is None:
        return {"image": source.url, "mask_url": None, "extra": {"source": source.field, "image_url": source.url}}
    group = bucket.new_job_id()  # the first job's id: its files are uploads/{job id}/...
    try:
        key = bucket.upload_key(group, 0, source.content_type)
        bucket.put_new(key, source.data, source.content_type)
        shared = {"image": bucket.presign(key, UPLOAD_URL_EXPIRY_SECONDS)["url"], "mask_url": None}
        shared["extra"], shared["first_job_id"] = {"source": source.field, "upload_key": key}, group
        if order.params.mask is not None:
            mask_key = f"uploads/{group}/mask.png"
            bucket.put_new(mask_key, order.params.mask, "image/png")
            shared["mask_url"] = bucket.presign(mask_key, UPLOAD_URL_EXPIRY_SECONDS)["url"]
        return shared
    except Exception:
        log.exception("%s could not be uploaded", source.field)
        return {"failure": ApiError(503, "storage_unavailable", f"{source.field} could not be started; retry it")}


def start_job(
    order: Order,
    params: Params,
    source: Source | None,
    shared: dict,
    job_id: str | None,
    webhook: str,
    reservation: dict | None,
    extra: dict,
) -> dict:
    """Open one job and submit its prediction; the job as stored, or failed with its `_failure`."""
    field = source.field if source else "prompt"
    if "failure" in shared:  # its upload failed: nothing was recorded, the entry names the image
        limits.settle(reservation, 0.0)
        return {"source": field, "status": "failed", "error": shared["failure"].message, "_failure": shared["failure"]}
    job_id = job_id or bucket.new_job_id()
    created = False
    try:
        fields = {**extra, **shared["extra"]}
        if order.sources:
            fields["task"] = order.task
        if reservation:
            fields["reservation"] = reservation
        if order.prompt_given:
            fields["prompt"] = order.params.prompt
        open_job(order, job_id, **fields)
        created = True
        model_input = providers.of(order.row).prediction_input(
            order.row, params, shared["image"], shared["mask_url"], order.overrides
        )
        return submit(order.row, order.model, model_input, job_id, webhook)
    except SubmitFailed as exc:
        if not order.sources:
            raise
        return {**(exc.job or records.get(job_id)), "_failure": exc}
    except ApiError:
        if not created:
            limits.settle(reservation, 0.0)
        raise
    except Exception as exc:
        if not order.sources:  # a generation's one job: its failure is the answer
            raise
        log.exception("%s could not be started", field)
        failure = ApiError(503, "storage_unavailable", f"{field} could not be started; retry it")
        if not created:  # nothing was recorded: the entry names the image instead of a job
            limits.settle(reservation, 0.0)
            return {"source": field, "status": "failed", "error": failure.message, "_failure": failure}
        try:
            job = records.mark_failed(job_id, failure.message)
        except Exception:  # S3 is failing us: the job stays open and the sweeper fails it
            log.warning("job %s could not be marked failed (%s)", job_id, type(exc).__name__)
            job = {"id": job_id, "status": "failed", "error": failure.message}
        return {**job, "_failure": failure}


def open_job(order: Order, job_id: str, **extra: Any) -> dict:
    """Write the `queued` record of a job whose prediction does not exist yet."""
    if settings.replicate_offline():
        extra["offline"] = True
    return records.create(records.new_job(job_id, provider=order.provider, model=order.model, **order.who(), **extra))


def job_webhook_url(webhook_base: str, job_id: str) -> str:
    """Our webhook URL for one job: the provider calls it back with our job id in the query string."""
    separator = "&" if "?" in webhook_base else "?"
    return f"{webhook_base}{separator}job_id={quote(job_id)}"


def submit(row: Model, model_ref: str, model_input: dict, job_id: str, webhook_url: str) -> dict:
    """Create a prediction for an open job that calls back `webhook_url`; record its id on the job and
    return the job as stored (no read back: the conditional update answers with it)."""
    provider = providers.of(row)
    try:
        prediction = provider.submit(model_ref, model_input, job_webhook_url(webhook_url, job_id))
    except ConfigError:
        records.mark_failed(job_id, "the service is not configured")
        raise
    except Exception as exc:
        status, code, message = provider.describe_error(exc)
        log.warning("job %s: %s submit failed: %s", job_id, row.provider, message)
        job = records.mark_failed(job_id, message)
        raise SubmitFailed(status, code, message, job) from None

    def record(job: dict) -> dict:
        job["prediction_id"] = prediction.id
        if prediction.status == "running":
            job["status"] = "running"
        if settings.replicate_offline():
            job["offline"] = True
        return job

    job = records.update(job_id, record)
    log.info("job %s: prediction %s submitted to %s", job_id, prediction.id, model_ref)
    return job
