"""Request fields that are numbers or OpenAI's `size`, from JSON or from text (a query string, a form
part): parsed once for generations and edits, each fault a 400 naming the field."""

from __future__ import annotations

import math
import re

from imagegen.invoke import invalid

WHOLE = re.compile(r"[+-]?\d{1,9}")
SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")


def whole_number(name: str, value: object, from_text: bool) -> int | None:
    if value is None or (from_text and value == ""):
        return None
    if from_text and isinstance(value, str):
        if not WHOLE.fullmatch(value.strip()):
            raise invalid(name, f"{value[:40]!r} is not a whole number")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value != int(value):
        raise invalid(name, f"{str(value)[:40]!r} is not a whole number")
    return int(value)


def number(name: str, value: object, from_text: bool) -> float | None:
    if value is None or (from_text and value == ""):
        return None
    if from_text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise invalid(name, f"{value[:40]!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(name, f"{str(value)[:40]!r} is not a number")
    return float(value)


def size(value: object) -> tuple[int | None, int | None]:
    """OpenAI's `size`: "WxH", or "auto"/absent (the model's choice)."""
    if value in (None, "", "auto"):
        return None, None
    match = SIZE.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise invalid("size", f"{str(value)[:40]!r} is not WIDTHxHEIGHT (e.g. 1024x1024) or auto")
    return int(match.group(1)), int(match.group(2))
