"""The answer of a request that has images: ours (`images`, `links`) and OpenAI's (`created`, `data`).

Sync providers answer with the bytes they just made; an async job that finished while the client
waited (`Prefer: wait`) has its images read back from the bucket for `b64_json`.
"""

from __future__ import annotations

import base64
import time

from imagegen import storage
from imagegen.http import ApiError

# Lambda answers at most 6 MB; base64 images must leave room for the rest of the answer.
MAX_B64_BYTES = 5 * 1024 * 1024
RESPONSE_FORMATS = ("url", "b64_json")


def image_fields(stored: list[dict], response_format: str, produced: list[bytes] | None = None) -> dict:
    """`images` (presigned, with content types), `created` and `data` for images stored in the bucket."""
    if response_format == "b64_json":
        # Checked before anything is read back or presigned: the recorded sizes, then the bytes themselves.
        # (`size`: what webhook-stored images recorded before it was `bytes`, as every image now does)
        check_inline_size(int(i.get("bytes") or i.get("size") or 0) for i in stored)
        blobs = produced if produced is not None else [storage.read(i["key"]) for i in stored]
        check_inline_size(len(b) for b in blobs)
        data = [{"b64_json": base64.b64encode(b).decode()} for b in blobs]
    presigned = [storage.presign(i["key"]) | {"content_type": i.get("content_type")} for i in stored]
    if response_format != "b64_json":
        data = [{"url": image["url"]} for image in presigned]
    return {"images": presigned, "created": int(time.time()), "data": data}


def check_inline_size(sizes) -> None:
    if sum(sizes) * 4 // 3 > MAX_B64_BYTES:
        raise too_large()


def too_large() -> ApiError:
    return ApiError(413, "response_too_large", "these images are too large to return inline; use response_format url")
