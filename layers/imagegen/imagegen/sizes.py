"""Image sizes, read from the image's header by Pillow (vendor layer) without decoding the pixels.

Its own module so that only the code that opens images imports it (edits, masks, Bedrock's input
limits); Pillow itself is imported inside the function, at the first image.
"""

from __future__ import annotations

import io

from imagegen.http import bad_request


def dimensions(data: bytes, field: str) -> tuple[int, int]:
    """(width, height) from the image's header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise bad_request("not_an_image", f"{field} could not be read as an image") from None
