"""A request to a model that answers now, as a job (`Prefer: respond-async`, or one too big for 29 s).

queued(): the key's limits first; each source (and the mask) in uploads/{job_id}/; the `queued` record
(what the worker needs: catalog row, settings, source keys); a message on the model's own queue, which
the worker (jobs.worker) reads at the model's quota. A queue that refuses it fails the job (503).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

from imagegen import aws, bucket, catalog, settings
from imagegen.catalog import Model
from imagegen.errors import ApiError, ConfigError
from imagegen.images import formats
from imagegen.jobs import records, run
from imagegen.orders import Order, Params

log = logging.getLogger("imagegen")


def queued(order: Order, requests: list[Params], **extra: Any) -> dict:
    """A job for the worker: the key's limits first; each source (and the mask) in uploads/{job_id}/;
    the `queued` record (what the worker needs: catalog row, settings, source keys); the message on
    the model's queue. A queue that refuses it fails the job (503), so nothing waits for nothing."""
    queue_url = settings.work_queues().get(order.row.name)
    if not queue_url:
        raise ConfigError(f"no work queue for {order.row.name} (WORK_QUEUES)")
    held = run.admit(order, sum(params.n for params in requests), run.async_hold_seconds())
    if held:
        extra["reservation"] = held.share(held.usd)
    job_id = bucket.new_job_id()
    sources = []
    for n, params in enumerate(requests):
        if params.image is not None:
            content_type = formats.sniff(params.image) or "image/png"
            key = bucket.upload_key(job_id, n, content_type)
            bucket.put_new(key, params.image, content_type)
            sources.append(key)
    if order.params.mask is not None:
        extra["mask_key"] = bucket.mask_key(job_id)
        bucket.put_new(extra["mask_key"], order.params.mask, "image/png")
    job = records.create(run.new_job(order, job_id, catalog_name=order.row.name, upload_keys=sources, **extra))
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
