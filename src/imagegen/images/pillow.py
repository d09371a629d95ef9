"""Opening an image with Pillow (vendor layer) safely, and its size from the header alone.

Its own module so that only the code that opens images imports it (edits, masks, Bedrock's input
limits); Pillow itself is imported inside the functions, at the first image.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from typing import Any

from imagegen.errors import ApiError, bad_request, param_of


@contextlib.contextmanager
def opened(data: bytes, field: str, unreadable: ApiError | None = None) -> Iterator[Any]:
    """The image, opened lazily (header only). A header claiming more pixels than Pillow's limit (a
    decompression bomb, even 69 bytes of PNG) is a 413 naming `field`; bytes Pillow cannot read are
    `unreadable` (default a 400 not_an_image)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # past the limit, not only twice it
            with Image.open(io.BytesIO(data)) as image:
                yield image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = f"{Image.MAX_IMAGE_PIXELS:,}"
        raise ApiError(
            413, "image_too_large", f"{field}: its header claims more than {limit} pixels", param_of(field)
        ) from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise unreadable or bad_request(
            "not_an_image", f"{field} could not be read as an image", param_of(field)
        ) from None


def dimensions(data: bytes, field: str) -> tuple[int, int]:
    """(width, height) from the image's header, without decoding the pixels."""
    with opened(data, field) as image:
        return image.size


def resized(data: bytes, field: str, size: tuple[int, int]) -> bytes:
    """The image at `size` (Lanczos), in its own format: PNG stays lossless, JPEG and WebP at quality 95."""
    from PIL import Image

    with opened(data, field) as image:
        kind = image.format if image.format in ("PNG", "JPEG", "WEBP") else "PNG"
        mode = image.mode if kind == "PNG" or image.mode in ("RGB", "L") else "RGB"
        scaled = image.convert(mode).resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    options = {"quality": 95} if kind in ("JPEG", "WEBP") else {}
    scaled.save(out, format=kind, **options)
    return out.getvalue()


def recompressed(data: bytes, field: str, quality: int) -> bytes:
    """A JPEG or WebP encoded again at `quality` (OpenAI's output_compression, 0-100), for a model that has
    no such setting of its own; anything else as it is."""
    with opened(data, field) as image:
        kind = image.format
        if kind not in ("JPEG", "WEBP"):
            return data
        image.load()
        out = io.BytesIO()
        image.save(out, format=kind, quality=quality)
    return out.getvalue()
