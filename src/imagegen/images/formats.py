"""Image bytes: what kind they are (by magic bytes, never by what the client says) and limits."""

from __future__ import annotations

import base64
import binascii

from imagegen.errors import ApiError, bad_request, param_of

MAX_IMAGE_BYTES = 5 * 1024 * 1024


def sniff(data: bytes) -> str | None:
    """The image media type from the first bytes, or None if it is not PNG, JPEG, WebP or GIF."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def decode_base64(value: object, field: str) -> bytes:
    """Strict base64 (a `data:image/...;base64,` prefix is allowed) or a 400 naming the field."""
    if not isinstance(value, str) or not value:
        raise bad_request("invalid_image", f"{field} must be a non-empty base64 string", param_of(field))
    if value.startswith("data:") and ";base64," in value:
        value = value.split(";base64,", 1)[1]
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request("invalid_base64", f"{field} is not valid base64", param_of(field)) from None


def check_image(data: bytes, field: str, max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """Validate an uploaded image; returns its media type."""
    if len(data) > max_bytes:
        raise ApiError(
            413, "image_too_large", f"{field} is {len(data)} bytes; the limit is {max_bytes}", param_of(field)
        )
    content_type = sniff(data)
    if content_type is None:
        raise bad_request("not_an_image", f"{field} is not a PNG, JPEG, WebP or GIF image", param_of(field))
    return content_type
