"""What each API key spent, per day: an append-only ledger in the bucket, summed by GET /v1/usage.

One empty object per priced job, its facts in its key, so a day's usage is one listing (no read per
job) and nothing is ever rewritten (no lost update when many jobs of one key finish at once):

    usage/{owner}/{yyyy-mm-dd}/{job_id}~{images}~{cost_usd}~{model}

`owner` is the API key id (`_` when the deployment has no API keys: then there is one account), the
day is the UTC day the images were stored, `model` the job's provider reference (GET /v1/usage names it
by the catalog; `~` is escaped as %7E so it only ever separates the facts). Written with If-None-Match: *,
so recording a job twice (a webhook delivered again, the sweeper closing a job whose marker stayed)
counts it once. Only jobs with a price are written (catalog list price: SageMaker is billed by the
instance hour, analysis runs in the Lambda).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from urllib.parse import quote, unquote

from imagegen import apikeys, aws, bucket, logs, settings

log = logging.getLogger("imagegen")

PREFIX = "usage/"
NO_KEY = "_"  # the owner of every job when the deployment has no API keys


def ledger_key(job: dict) -> str | None:
    """The job's ledger key, or None if it has no price (nothing to record)."""
    if job.get("status") != "succeeded" or not isinstance(job.get("cost_usd"), int | float):
        return None
    model = quote(str(job.get("model")), safe="").replace("~", "%7E")  # quote keeps ~, our separator
    day = str(job.get("updated_at") or job.get("created_at"))[:10]
    images = len(job.get("images") or [])
    return f"{owner_prefix(job.get('owner'))}{day}/{job['id']}~{images}~{job['cost_usd']}~{model}"


def owner_prefix(owner: str | None) -> str:
    """`usage/{owner}/`: an API key id, or NO_KEY without keys; anything else (a path, a wildcard) is a
    bug upstream that must not read or write another key's ledger."""
    if owner is not None and not apikeys.KEY_ID.fullmatch(owner):
        raise ValueError(f"not an API key id: {owner[:40]!r}")
    return f"{PREFIX}{owner or NO_KEY}/"


def record(job: dict) -> bool:
    """Add a priced, succeeded job to its owner's day, once however often it is called. False if S3
    failed us: logged and counted (UsageNotRecorded), never raised, since the images are stored and
    the job is done; a job's caller keeps its open/ marker then, so the sweeper records it later."""
    key = ledger_key(job)
    if key is None:
        return True
    try:
        if not bucket.put_new(key, b"", "application/octet-stream"):
            log.info("job %s: usage already recorded", job["id"])
        return True
    except Exception as exc:
        code = aws.error_code(exc)
        if not aws.is_aws_error(exc):
            raise
        log.error("job %s: its usage could not be recorded (%s)", job["id"], code or type(exc).__name__)
        logs.metric("UsageNotRecorded", 1)
        return False


def parse(key: str) -> tuple[str, str, int, float, str] | None:
    """(day, job id, images, cost_usd, model) of a ledger key; None for a key that is not one."""
    try:
        day, entry = key.split("/")[-2:]
        job_id, images, cost, model = entry.split("~")
        return day, job_id, int(images), float(cost), unquote(model)
    except ValueError:
        return None


def entries(owner: str | None, start: date, end: date):
    """The ledger entries of `owner` from day `start` to day `end`, both included: one listing."""
    prefix = owner_prefix(owner)
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    after = prefix + (start - timedelta(days=1)).isoformat() + "~"  # past every key of the day before
    for page in paginator.paginate(Bucket=settings.bucket_name(), Prefix=prefix, StartAfter=after):
        for item in page.get("Contents", []):
            entry = parse(item["Key"])
            if entry is None:
                continue
            if entry[0] > end.isoformat():
                return
            yield entry


def tally() -> dict:
    return {"jobs": 0, "images": 0, "cost_usd": 0.0}


def rounded(totals: dict) -> dict:
    return {**totals, "cost_usd": round(totals["cost_usd"], 6)}


def summary(owner: str | None, start: date, end: date, name: Callable[[str], str] = str) -> dict:
    """Jobs, images and cost in total, per day, and per day and model (by `name` of its reference)."""
    total, days, models = tally(), {}, {}
    for day, _, images, cost, ref in entries(owner, start, end):
        for totals in (total, days.setdefault(day, tally()), models.setdefault((day, name(ref)), tally())):
            totals["jobs"] += 1
            totals["images"] += images
            totals["cost_usd"] += cost
    data = [
        {
            "object": "usage.day",
            "date": day,
            **rounded(totals),
            "models": [{"model": model, **rounded(t)} for (on, model), t in sorted(models.items()) if on == day],
        }
        for day, totals in sorted(days.items())
    ]
    return {
        "object": "usage",
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        **rounded(total),
        "data": data,
    }
