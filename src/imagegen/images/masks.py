"""OpenAI's edit mask as the mask image models take.

OpenAI's `mask` is a PNG the size of the image whose fully transparent pixels (alpha 0) mark
where the image may change. Stability's inpainting (Bedrock Image Services, and FLUX Fill on
Replicate) take a black-and-white image instead, white where the image is repainted and black
where it is kept. Pillow (vendor layer) decodes the PNG; it is imported only when a mask comes.
"""

from __future__ import annotations

import io

from imagegen.errors import ApiError, bad_request
from imagegen.images import pillow

MAX_PIXELS = 4096 * 4096  # refuse decompression bombs before decoding


def white_means_edit(
    mask: bytes, image_size: tuple[int, int], field: str = "mask", sent_at: tuple[int, int] | None = None
) -> bytes:
    """A grayscale PNG, white where `mask` is fully transparent, at `sent_at` (the size its image is sent
    at, when the image was scaled); a 400 naming `field` otherwise."""
    unreadable = bad_request("invalid_mask", f"{field} could not be read as a PNG", field)
    with pillow.opened(mask, field, unreadable) as opened:
        if opened.format != "PNG":
            raise bad_request("invalid_mask", f"{field} must be a PNG with an alpha channel", field)
        if opened.width * opened.height > MAX_PIXELS:
            raise ApiError(413, "image_too_large", f"{field} is over {MAX_PIXELS} pixels", field)
        if opened.size != image_size:
            (w, h), (iw, ih) = opened.size, image_size
            raise bad_request("invalid_mask", f"{field} is {w}x{h} but the image is {iw}x{ih}; they must match", field)
        has_alpha = opened.mode in ("RGBA", "LA", "PA") or "transparency" in opened.info
        if not has_alpha:
            raise bad_request(
                "invalid_mask", f"{field} has no alpha channel: its transparent pixels mark the area to edit", field
            )
        alpha = opened.convert("RGBA").getchannel("A")
    edited = alpha.point(lambda a: 255 if a == 0 else 0)
    if sent_at is not None and sent_at != edited.size:
        from PIL import Image

        edited = edited.resize(sent_at, Image.Resampling.NEAREST)
    if edited.getbbox() is None:
        raise bad_request("invalid_mask", f"{field} has no fully transparent pixel, so nothing would change", field)
    out = io.BytesIO()
    edited.save(out, format="PNG", optimize=True)
    return out.getvalue()
