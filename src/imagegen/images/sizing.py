"""The size an edit's source is sent at: the size asked for (OpenAI's `size`), or its own, within the
model's pixel limit, its proportions always kept (edit models make the input's shape).

Pure arithmetic on sizes; imagegen.images.pillow does the scaling.
"""

from __future__ import annotations

import math

from imagegen.errors import invalid

# Proportions differing by less than this (a pixel's rounding on either side) are the same shape.
ASPECT_TOLERANCE = 0.01


def same_shape(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs(a[0] / a[1] - b[0] / b[1]) <= ASPECT_TOLERANCE * (b[0] / b[1])


def within(size: tuple[int, int], max_pixels: int | None) -> tuple[int, int]:
    """`size`, or the largest size of its proportions with at most `max_pixels` pixels."""
    width, height = size
    if not max_pixels or width * height <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (width * height))
    width, height = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    while width * height > max_pixels:  # floating point: a pixel over, at most
        width, height = width - 1, max(1, round((width - 1) * size[1] / size[0]))
    return width, height


def target(
    source: tuple[int, int], asked: tuple[int, int] | None, max_pixels: int | None, model: str, field: str
) -> tuple[int, int]:
    """The size to send `field` (whose size is `source`) at: `asked` if given and of the same shape, else
    its own; scaled down, proportions kept, to the model's `max_pixels`. A size of another shape is a
    400 naming `size` that lists what the model can make from this image."""
    if asked is not None and not same_shape(asked, source):
        own = within(source, max_pixels)
        options = [f"{own[0]}x{own[1]}"]
        half = (own[0] // 2, own[1] // 2)
        if min(half) >= 64:
            options.append(f"{half[0]}x{half[1]}")
        raise invalid(
            "size",
            f"{asked[0]}x{asked[1]} is not the shape of {field} ({source[0]}x{source[1]}): {model} keeps an "
            f"image's proportions; sizes it can make from it include {', '.join(options)} (or leave size out)",
        )
    return within(asked or source, max_pixels)
