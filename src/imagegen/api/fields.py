"""Request fields that are numbers or OpenAI's `size`, from JSON or from text (a query string, a form
part): parsed once for generations and edits, each fault a 400 naming the field."""

from __future__ import annotations

import math
import re

from imagegen.errors import invalid

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


# OpenAI's newer request fields, taken by generations and edits alike (end_user).
TODAYS_FIELDS = ("safety_identifier", "moderation", "stream", "partial_images")


def end_user(fields: dict) -> str | None:
    """OpenAI's request fields that change nothing here but must not be dropped silently: `stream`
    (false only: API Gateway HTTP APIs do not stream), `partial_images` (0 only), `moderation` (auto
    only: each provider applies its own filter); and the end user's identifier, `safety_identifier`
    (OpenAI's newer name) or `user`, which the job records. A value we cannot honour is a 400 naming it."""
    if fields.get("stream") not in (None, False, "false"):
        raise invalid(
            "stream",
            "this API does not stream (API Gateway HTTP APIs answer whole): leave stream out or false; for a "
            "slow model send `Prefer: wait` to get the images in the answer, or poll the job's links.self",
        )
    if fields.get("partial_images") not in (None, 0, "0"):
        raise invalid("partial_images", "partial images need streaming, which this API does not do: leave it out or 0")
    if fields.get("moderation") not in (None, "auto"):
        raise invalid("moderation", "only auto: each provider applies its own content filter")
    for name in ("safety_identifier", "user"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, str) or len(value) > 256):
            raise invalid(name, "must be a string of at most 256 characters")
    return fields.get("safety_identifier") or fields.get("user")


OUTPUT_FORMATS = ("png", "jpeg", "webp")


def defaults_only(values: dict, accepted: dict[str, tuple]) -> None:
    """OpenAI's fields no model here varies (style, background, ...): absent or one of their defaults,
    anything else a 400 naming the field, never dropped."""
    for name, defaults in accepted.items():
        if values.get(name) not in (None, *defaults):
            raise invalid(name, f"{str(values[name])[:40]!r} cannot be honoured by the models here; leave it out")


def output(values: dict, from_text: bool) -> tuple[str | None, int | None]:
    """OpenAI's `output_format` (png, jpeg, webp) and `output_compression` (0-100, for jpeg and webp);
    whether the chosen model can make them is the provider's to say (a 400 naming the field)."""
    fmt = values.get("output_format")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise invalid("output_format", f"{str(fmt)[:40]!r} is not one of {', '.join(OUTPUT_FORMATS)}")
    compression = whole_number("output_compression", values.get("output_compression"), from_text)
    if compression is not None and not 0 <= compression <= 100:
        raise invalid("output_compression", f"{compression} is outside 0..100")
    if compression not in (None, 100) and fmt not in ("jpeg", "webp"):
        raise invalid("output_compression", "applies to output_format jpeg or webp only")
    return fmt, compression
