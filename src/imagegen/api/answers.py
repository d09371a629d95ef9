"""The answers of requests about images and jobs: ours (`images`, `links`, `jobs`) and OpenAI's
(`created`, `data`), shaped from the job records jobs.run returns.

Sync providers answer with the bytes they just made; an async job that finished while the client
waited (`Prefer: wait`) has its images read back from the bucket for `b64_json`.
"""

from __future__ import annotations

import base64
import time

from imagegen import bucket
from imagegen.api.events import json_response
from imagegen.errors import ApiError

# Lambda answers at most 6 MB; base64 images must leave room for the rest of the answer.
MAX_B64_BYTES = 5 * 1024 * 1024
# A job's fields every answer about it carries.
JOB_FIELDS = ("id", "status", "provider", "model", "prompt")
# What its images cost at the model's list price (catalog), once it has them.
COST_FIELDS = ("cost_usd", "price_date")
# OpenAI's ImagesResponse echoes these, each from a closed list (openai-openapi: ImagesResponse).
ECHOED_SIZES = ("1024x1024", "1024x1536", "1536x1024")
OUTPUT_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}


def image_fields(stored: list[dict], response_format: str, produced: list[bytes] | None = None) -> dict:
    """`images` (presigned, with content types), `created` and `data` for images stored in the bucket."""
    if response_format == "b64_json":
        # Checked before anything is read back or presigned: the recorded sizes, then the bytes themselves.
        # (`size`: what webhook-stored images recorded before it was `bytes`, as every image now does)
        check_inline_size(int(i.get("bytes") or i.get("size") or 0) for i in stored)
        blobs = produced if produced is not None else [bucket.read(i["key"]) for i in stored]
        check_inline_size(len(b) for b in blobs)
        data = [{"b64_json": base64.b64encode(b).decode()} for b in blobs]
    presigned = [presign(image) for image in stored]
    if response_format != "b64_json":
        data = [{"url": image["url"]} for image in presigned]
    return {"images": presigned, "created": int(time.time()), "data": data}


def presign(image: dict) -> dict:
    """A stored image's presigned URL (to show it), its download URL (to save it as <job id>-<n>.<ext>:
    a browser ignores `download` on another origin) and its content type."""
    key = image["key"]
    return bucket.presign(key) | {
        "content_type": image.get("content_type"),
        "download_url": bucket.presign(key, filename=bucket.download_name(key))["url"],
    }


def check_inline_size(sizes) -> None:
    if sum(sizes) * 4 // 3 > MAX_B64_BYTES:
        raise too_large()


def too_large() -> ApiError:
    return ApiError(
        413,
        "response_too_large",
        "these images are too large to return inline; use response_format url",
        "response_format",
    )


def echoed(stored: list[dict], asked: dict) -> dict:
    """OpenAI's answer fields we can state truly: the format the images were stored in (when they
    share one), `opaque` (no model here makes transparent images), and the size the client asked for."""
    found = {OUTPUT_FORMATS.get(image.get("content_type")) for image in stored}
    fields = {"output_format": found.pop()} if len(found) == 1 and None not in found else {}
    fields["background"] = "opaque"
    if asked.get("size") in ECHOED_SIZES:
        fields["size"] = asked["size"]
    return fields


def links(job_id: str) -> dict:
    return {"self": f"/v1/jobs/{job_id}"}


def created(
    job: dict,
    response_format: str,
    produced: list[bytes] | None = None,
    headers: dict | None = None,
    asked: dict | None = None,
) -> dict:
    """201 with a finished job: our fields and, for the clients people already have, OpenAI's (with
    the `output_format`, `background` and `size` of what was made, where OpenAI's list has them)."""
    body = {k: job.get(k) for k in JOB_FIELDS}
    if job.get("offline"):
        body["offline"] = True
    body |= image_fields(job["images"], response_format, produced)
    body |= echoed(job["images"], asked or {})
    body |= {k: job[k] for k in (*COST_FIELDS, "scaled") if k in job}
    body["links"] = links(job["id"])
    return json_response(201, body, {"location": body["links"]["self"], **(headers or {})})


def accepted(job: dict, headers: dict | None = None) -> dict:
    """202 with an open job: where to find it, and OpenAI's `data`, empty until it finishes."""
    body = {k: job.get(k) for k in JOB_FIELDS}
    body["links"] = links(job["id"])
    body |= {"created": int(time.time()), "data": []}
    return json_response(202, body, {"location": body["links"]["self"], **(headers or {})})


def job_summary(job: dict) -> dict:
    """One job in a list of jobs (an edit of several images); an image whose job could not even be
    recorded is named by its field."""
    if "id" not in job:
        return {"source": job["source"], "status": job["status"], "error": job["error"]}
    view = {"id": job["id"], "status": job["status"], "links": links(job["id"])}
    if job.get("error"):
        view["error"] = job["error"]
    return view


def job_view(job: dict) -> dict:
    """What GET /v1/jobs/{id} shows: the record without internals, with presigned image URLs."""
    view = {k: job.get(k) for k in ("id", "status", "provider", "model", "prompt", "error", "created_at", "updated_at")}
    if job.get("offline"):
        view["offline"] = True
    view["images"] = [presign(image) for image in job.get("images", [])]
    view |= {k: job[k] for k in (*COST_FIELDS, "scaled") if k in job}
    if isinstance(job.get("webhook"), dict):  # where its end is sent, and how that went (never the URL's query:
        hook = job["webhook"]  # a receiver's token often rides there)
        view["webhook"] = {"url": hook["url"].split("?")[0], "events": hook.get("events")}
        view["webhook"] |= {"deliveries": hook["deliveries"]} if "deliveries" in hook else {}
    view["links"] = links(job["id"])
    return view
