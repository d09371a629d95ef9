"""A request to a model that answers later (Replicate): one job per prediction, submitted with our webhook.

later(): a generation's one job, or n for each image of an edit, CALLS_IN_FLIGHT at a time, each image
(and the mask) uploaded once to uploads/{job_id}/ and shared by its n jobs; the prediction is submitted
with our webhook (the provider calls it back; jobs.outputs stores the images). A job the provider
refused is recorded `failed` and returned with its `_failure`, so it cannot hide the others.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from imagegen import aws, bucket, providers, settings
from imagegen.catalog import Model
from imagegen.errors import ApiError, ConfigError, SubmitFailed
from imagegen.jobs import limits, records, run
from imagegen.orders import Order, Params, Source

log = logging.getLogger("imagegen")

# Replicate may queue a prediction for a while before it fetches the input.
UPLOAD_URL_EXPIRY_SECONDS = 3600


def later(order: Order, webhook: str, **extra: Any) -> list[dict]:
    """One job per prediction: a generation's one, or n for each image of an edit, CALLS_IN_FLIGHT at a
    time, each image (and the mask) uploaded once and shared by its n jobs. Never raises for one job's
    trouble: a job that could not start is returned failed with its `_failure` (ApiError), so it cannot
    hide the others, whose predictions are already billed. The key's limits are checked first."""
    providers.of(order.row).ready()  # its credentials read (or the config error raised) before anything is written
    aws.client("s3")  # made here, once: client creation from one session is not thread-safe
    if order.sources:  # an edit: the model makes one image per prediction, so n jobs per image
        sources, per_source, per_job = list(order.sources), order.params.n, replace(order.params, n=1)
    else:  # a generation: one prediction makes its n images
        sources, per_source, per_job = [None], 1, order.params
    held = run.admit(order, len(sources) * order.params.n, run.async_hold_seconds())  # before anything is uploaded
    reservation = held.share(held.usd / (len(sources) * per_source)) if held else None  # each job settles its part
    uploads = run.bounded(lambda source: upload(order, source), sources)
    work = [  # the first job of each image keeps the id its upload is filed under
        (source, shared, shared.get("first_job_id") if k == 0 else None)
        for source, shared in zip(sources, uploads, strict=True)
        for k in range(per_source)
    ]
    return run.bounded(lambda item: start_job(order, per_job, *item, webhook, reservation, extra), work)


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
            mask_key = bucket.mask_key(group)
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
