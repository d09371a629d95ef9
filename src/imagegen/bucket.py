"""The one bucket: image keys that never collide, and presigned URLs.

Layout: images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} for results,
uploads/{job_id}/{n}.{ext} for source images, jobs/{job_id}.json for job records.
Job ids are random UUIDs, so two requests never share a key (the seeds used
timestamps, which collided under load).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import IO

from imagegen import aws, settings

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


def new_job_id() -> str:
    return uuid.uuid4().hex


def is_job_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def image_key(job_id: str, n: int, content_type: str, when: datetime) -> str:
    return f"images/{when:%Y/%m/%d}/{job_id}/{n}.{EXTENSIONS[content_type]}"


def upload_key(job_id: str, n: int, content_type: str) -> str:
    return f"uploads/{job_id}/{n}.{EXTENSIONS[content_type]}"


def mask_key(job_id: str) -> str:
    """An edit's mask, beside its sources (a PNG, white where the image is repainted)."""
    return f"uploads/{job_id}/mask.png"


# S3's answer to a conditional write racing another on the same key: "409 ConditionalRequestConflict ...
# you can retry the request" (S3 User Guide, conditional writes). The retry then learns who won (412).
CONFLICT_RETRIES = 3


def put_new(key: str, body: bytes | IO[bytes], content_type: str) -> bool:
    """Write an object only if the key is free. False if it already exists (nothing is overwritten)."""
    start = body.tell() if hasattr(body, "tell") else 0
    for attempt in range(CONFLICT_RETRIES + 1):
        if hasattr(body, "seek"):
            body.seek(start)  # a file body is sent again from where it began
        try:
            aws.client("s3").put_object(
                Bucket=settings.bucket_name(), Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
            )
        except Exception as exc:
            code = aws.error_code(exc)
            if code == "PreconditionFailed":
                return False
            if code == "ConditionalRequestConflict" and attempt < CONFLICT_RETRIES:
                continue  # a write to the same key was in flight: ask again, now it has an answer
            raise
        return True
    raise AssertionError("unreachable")


def presign(key: str, expires_in: int | None = None, filename: str | None = None) -> dict:
    """A presigned GET URL for `key` and the time it stops working; with `filename`, S3 answers it as a
    download of that name (response-content-disposition, signed into the URL)."""
    seconds = expires_in or settings.url_expiry_seconds()
    params = {"Bucket": settings.bucket_name(), "Key": key}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    url = aws.client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
    expires_at = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    return {"key": key, "url": url, "expires_at": expires_at.isoformat(timespec="seconds")}


def download_name(key: str) -> str:
    """images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} -> {job_id}-{n}.{ext}: what a saved image is called."""
    *_, job_id, name = key.split("/")
    return f"{job_id}-{name}"


def read_json(key: str) -> tuple[dict | None, str | None]:
    """A JSON object and its ETag, for a conditional write after it; (None, None) when there is none."""
    try:
        answer = aws.client("s3").get_object(Bucket=settings.bucket_name(), Key=key)
    except Exception as exc:
        if aws.error_code(exc) in ("NoSuchKey", "404"):
            return None, None
        raise
    return json.loads(answer["Body"].read()), answer["ETag"]


def write_json(key: str, value: dict, etag: str | None) -> bool:
    """Write `value` only if the object is still what was read (If-Match `etag`), or still absent
    (If-None-Match) when there was none; False when another write came first (read again, decide again)."""
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        aws.client("s3").put_object(
            Bucket=settings.bucket_name(),
            Key=key,
            Body=json.dumps(value, separators=(",", ":")).encode(),
            ContentType="application/json",
            **condition,
        )
    except Exception as exc:
        if aws.error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True


def read(key: str) -> bytes:
    return aws.client("s3").get_object(Bucket=settings.bucket_name(), Key=key)["Body"].read()
