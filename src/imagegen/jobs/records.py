"""Job records: small JSON objects at jobs/{job_id}.json in the bucket.

Created with a conditional put (If-None-Match: *) and changed only with
If-Match: <etag>, so a record is never overwritten blindly. Status only moves
forward: a repeated, late or concurrent webhook cannot undo a finished job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone

from imagegen import aws, bucket, logs, settings
from imagegen.errors import JobNotFound
from imagegen.jobs import notify, usage

log = logging.getLogger("imagegen")

STATUSES = ("queued", "running", "succeeded", "failed", "canceled")
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
_RANK = {"queued": 0, "running": 1, "succeeded": 2, "failed": 2, "canceled": 2}

# How often an update retries when another writer changed the record in between.
MAX_UPDATE_ATTEMPTS = 8


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def require_id(job_id: str) -> str:
    """A path's job id, or the 404 of a job that cannot exist (never a key built from junk)."""
    if not bucket.is_job_id(job_id):
        raise JobNotFound(job_id)
    return job_id


def job_key(job_id: str) -> str:
    return f"jobs/{job_id}.json"


def open_key(job_id: str) -> str:
    """An empty marker that exists while the job is open: the sweeper lists open/, never all of jobs/."""
    return f"open/{job_id}"


def can_move(current: str, new: str) -> bool:
    """True if a job may go from status `current` to `new` (forward only, terminal is final)."""
    return current not in TERMINAL and _RANK[new] >= _RANK[current]


def new_job(job_id: str, *, provider: str, model: str, status: str = "queued", **fields) -> dict:
    stamp = now()
    return {
        "id": job_id,
        "status": status,
        "provider": provider,
        "model": model,
        "images": [],
        "error": None,
        "created_at": stamp,
        "updated_at": stamp,
        **fields,
    }


def create(job: dict) -> dict:
    """Store a new job record; refuses to overwrite an existing one."""
    aws.client("s3").put_object(
        Bucket=settings.bucket_name(),
        Key=job_key(job["id"]),
        Body=json.dumps(job).encode(),
        ContentType="application/json",
        IfNoneMatch="*",
    )
    if job["status"] not in TERMINAL or not usage.record(job):
        # Written after the record, so a marker always has a job; removed when the job ends (a job
        # finished at once whose usage S3 refused keeps one until the sweeper has recorded it).
        aws.client("s3").put_object(Bucket=settings.bucket_name(), Key=open_key(job["id"]), Body=b"")
    logs.bind(job_id=job["id"], provider=job.get("provider"), model=job.get("model"))
    record_outcome(None, job)
    if job["status"] in TERMINAL:
        notify.job_ended(job)
    return job


def read(job_id: str) -> tuple[dict, str]:
    """The job record and its ETag; JobNotFound if there is none."""
    job, etag = bucket.read_json(job_key(job_id))
    if job is None:
        raise JobNotFound(job_id)
    return job, etag


def get(job_id: str) -> dict:
    job = read(job_id)[0]
    logs.bind(job_id=job_id, provider=job.get("provider"), model=job.get("model"))
    return job


def get_for(job_id: str, owner: str | None) -> dict:
    """The job, if `owner` (the caller's API key id; None when keys are off) may see it: another
    key's job is a 404, exactly like a job that does not exist, so ids reveal nothing."""
    job = get(job_id)
    if owner is not None and job.get("owner") != owner:
        raise JobNotFound(job_id)
    return job


def record_outcome(before: str | None, job: dict) -> None:
    """Metrics for a job that just finished: images stored, or why it failed; the model's time."""
    if job["status"] == before or job["status"] not in TERMINAL:
        return
    dims = {"provider": job.get("provider") or "none", "model": job.get("model") or "none"}
    if job["status"] == "succeeded":
        logs.metric("ImagesStored", len(job.get("images") or []), **dims)
        predict_time = (job.get("metrics") or {}).get("predict_time")
        if isinstance(predict_time, int | float):  # Replicate's own measure of the model's run
            logs.metric("ProviderLatency", round(predict_time * 1000, 1), "Milliseconds", **dims)
    else:
        logs.metric("JobsFailed", 1, reason=str(job.get("error_code") or job["status"]), **dims)


def update(job_id: str, change: Callable[[dict], dict | None]) -> dict:
    """Apply `change` to the stored record with optimistic concurrency.

    `change` gets a copy of the record and returns the new record, or None to leave
    it as it is. On a concurrent write the record is read again and `change` runs
    again, so it must decide from the record it is given. Returns the stored record.
    """
    for _ in range(MAX_UPDATE_ATTEMPTS):
        job, etag = read(job_id)
        changed = change(json.loads(json.dumps(job)))
        if changed is None:
            return job
        if not can_move(job["status"], changed["status"]):
            log.info("job %s: ignoring move %s -> %s", job_id, job["status"], changed["status"])
            return job
        changed["updated_at"] = now()
        try:
            aws.client("s3").put_object(
                Bucket=settings.bucket_name(),
                Key=job_key(job_id),
                Body=json.dumps(changed).encode(),
                ContentType="application/json",
                IfMatch=etag,
            )
        except Exception as exc:
            if aws.error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                continue
            raise
        # the usage before the marker goes: if we stop in between, or S3 refuses the ledger entry, the
        # sweeper finds a finished job with its marker and records it then
        if changed["status"] in TERMINAL and changed.get("reservation"):  # its key's budget: held, now made
            from imagegen.jobs import limits  # only the functions that end a limited key's jobs need it

            limits.settle(changed["reservation"], changed.get("cost_usd") or 0.0)
        if changed["status"] in TERMINAL and usage.record(changed):
            close(job_id)
        record_outcome(job["status"], changed)
        if changed["status"] in TERMINAL and job["status"] not in TERMINAL:
            notify.job_ended(changed)
        return changed
    raise RuntimeError(f"job {job_id}: gave up after {MAX_UPDATE_ATTEMPTS} concurrent updates")


# -- named transitions ---------------------------------------------------------------------------


def finish(job_id: str, status: str, **fields) -> dict:
    """Move the job to `status` with `fields` (forward only: a finished job stays as it is)."""
    return update(job_id, lambda job: {**job, "status": status, **fields})


def mark_running(job_id: str) -> dict:
    """A worker took the job: `running`, its attempts counted; the job as stored (as it was when it had
    already finished)."""

    def take(job: dict) -> dict | None:
        if job["status"] in TERMINAL:
            return None
        return {**job, "status": "running", "attempts": int(job.get("attempts") or 0) + 1}

    return update(job_id, take)


def mark_failed(job_id: str, error: str, code: str | None = None) -> dict:
    fields = {"error": error} | ({"error_code": code} if code else {})
    return finish(job_id, "failed", **fields)


def mark_canceled(job_id: str) -> dict:
    return finish(job_id, "canceled", error="canceled by the client")


def annotate(job_id: str, name: str, value: object) -> dict:
    """Set one field that is not its status (a finished job's webhook deliveries), whatever the status;
    with If-Match like every write."""
    for _ in range(MAX_UPDATE_ATTEMPTS):
        job, etag = read(job_id)
        job[name] = value
        if bucket.write_json(job_key(job_id), job, etag):
            return job
    raise RuntimeError(f"job {job_id}: gave up after {MAX_UPDATE_ATTEMPTS} concurrent updates")


def close(job_id: str) -> None:
    """Remove the job's open marker (idempotent: deleting a missing key succeeds)."""
    aws.client("s3").delete_object(Bucket=settings.bucket_name(), Key=open_key(job_id))


def open_jobs() -> list[tuple[str, datetime]]:
    """(job id, when it was opened) of every open job: one listing of open/, O(open jobs)."""
    found = []
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.bucket_name(), Prefix="open/"):
        for item in page.get("Contents", []):
            job_id = item["Key"].removeprefix("open/")
            if bucket.is_job_id(job_id):
                found.append((job_id, item["LastModified"]))
    return found
