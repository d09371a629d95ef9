"""Real PNG bytes with the standard library only (zlib, struct): the fakes' outputs."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable


def png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]], text: str = "") -> bytes:
    """An 8-bit RGB PNG whose pixel (x, y) is `pixel(x, y)`, with `text` in a tEXt chunk if given."""
    return png_rows(width, height, lambda y: bytes(c for x in range(width) for c in pixel(x, y)), text)


def png_rows(width: int, height: int, row: Callable[[int], bytes], text: str = "") -> bytes:
    """An 8-bit RGB PNG whose row y is the RGB bytes `row(y)` (fast for images made of whole rows)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + row(y) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    meta = chunk(b"tEXt", b"Comment\x00" + text.encode("latin-1", "replace")) if text else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + meta
        + chunk(b"IDAT", zlib.compress(rows, 6))
        + chunk(b"IEND", b"")
    )
