"""The images of a request, as JSON or `multipart/form-data`: shared by edits and image analysis.

- JSON: `image` (base64, a `data:` URL, or a list of them) and `image_url` (a URL or a list).
- multipart: file parts `image` / `image[]` (the `openai` SDK sends a list as repeated `image[]`)
  and text parts `image_url` / `url` (the IA Flash name); other text parts are the caller's fields.

`collect_*` returns every image as a Source in request order, each either usable or carrying its
own error: edits refuse the whole request at the first bad image (`Source.require()`), analysis
answers each image on its own. Malformed bodies and too many images are refused here.
"""

from __future__ import annotations

import io
from typing import Any

from imagegen.api.events import Request
from imagegen.errors import ApiError, bad_request, clip, param_of
from imagegen.images import formats
from imagegen.orders import Source

MAX_IMAGES = 8
FILE_PARTS = ("image", "image[]")
URL_PARTS = ("image_url", "url")


def uploaded(data: bytes, field: str) -> Source:
    try:
        return Source(field, data, formats.check_image(data, field))
    except ApiError as err:
        return Source(field, error=err)


def encoded(value: object, field: str) -> Source:
    try:
        return uploaded(formats.decode_base64(value, field), field)
    except ApiError as err:
        return Source(field, error=err)


def linked(value: object, field: str) -> Source:
    if not isinstance(value, str) or not value.strip():
        return Source(
            field, error=bad_request("invalid_image_url", f"{field} must be a non-empty URL string", param_of(field))
        )
    return Source(field, url=value.strip())


def refuse_unknown(names: set[str], allowed: frozenset[str], kind: str) -> None:
    """A 400 naming the first field (or part) the route does not know, with the ones it does."""
    unknown = sorted(names - allowed)
    if unknown:
        name = unknown[0][:100]
        raise ApiError(400, "unknown_field", f"{clip(name)}: unknown {kind}; use {', '.join(sorted(allowed))}", name)


def as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def check_count(count: int) -> None:
    if count == 0:
        raise bad_request("missing_image", "send an image: `image` (base64 or a file part) or `image_url`", "image")
    if count > MAX_IMAGES:
        raise bad_request("too_many_images", f"{count} images; at most {MAX_IMAGES} per request", "image")


def collect_json(body: dict) -> list[Source]:
    files, urls = as_list(body.get("image")), as_list(body.get("image_url"))
    check_count(len(files) + len(urls))
    sources = [encoded(value, "image" if len(files) == 1 else f"image[{i}]") for i, value in enumerate(files)]
    sources += [linked(value, "image_url" if len(urls) == 1 else f"image_url[{i}]") for i, value in enumerate(urls)]
    return sources


def multipart_parts(request: Request) -> list[Any]:
    """The parts of a multipart body, strictly parsed, in memory; a 400 if it is malformed."""
    import multipart

    _, options = multipart.parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get("boundary")
    if not boundary:
        raise bad_request("invalid_multipart", "multipart/form-data needs a boundary parameter")
    limit = len(request.body) + 1
    parser = multipart.MultipartParser(
        io.BytesIO(request.body),
        boundary,
        content_length=len(request.body),
        strict=True,
        part_limit=64,
        spool_limit=limit,
        memory_limit=limit,
        disk_limit=0,
    )
    try:
        parts = parser.parts()
    except multipart.MultipartError as exc:
        raise bad_request("invalid_multipart", f"the multipart body is malformed: {exc}") from None
    if not parts:
        raise bad_request("invalid_multipart", "the multipart body has no parts")
    return parts


def collect_form(parts: list[Any]) -> list[Source]:
    files = [part for part in parts if part.name in FILE_PARTS]
    urls = [part for part in parts if part.name in URL_PARTS]
    check_count(len(files) + len(urls))
    sources = []
    for i, part in enumerate(files):
        sources.append(uploaded(part.raw, f"image[{i}]" + (f" ({part.filename[:100]})" if part.filename else "")))
    for i, part in enumerate(urls):
        name = f"{part.name}[{i}]"
        try:
            sources.append(linked(form_text(part, name), name))
        except ApiError as err:
            sources.append(Source(name, error=err))
    return sources


def text_fields(parts: list[Any], names: frozenset[str] | set[str]) -> dict[str, str]:
    """The text parts named in `names`, each at most once."""
    fields: dict[str, str] = {}
    for name in names:
        found = [part for part in parts if part.name == name]
        if len(found) > 1:
            raise ApiError(400, "invalid_parameter", f"{clip(name)}: sent more than once", name)
        if found:
            fields[name] = form_text(found[0], name)
    return fields


def form_text(part: Any, field: str) -> str:
    """A text part's value: UTF-8 only (what browsers and SDKs send), decoded strictly; else a 400 naming it."""
    charset = (getattr(part, "charset", None) or "utf-8").strip().lower()
    if charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
        raise bad_request("invalid_multipart", f"{field}: charset {charset[:40]!r} is not supported; send UTF-8", field)
    try:
        return part.raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("invalid_multipart", f"{field}: the text is not valid UTF-8", field) from None
