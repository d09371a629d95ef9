"""multipart/form-data edit requests: parts, aliases, limits, and malformed bodies (all parsed before any write)."""

from __future__ import annotations

import base64

import pytest

from imagegen import catalog
from imagegen.api.events import parse_event
from imagegen.errors import ApiError
from imagegen.routes import edit as edits
from localdev.fake_replicate import render
from tests.conftest import load_event

BOUNDARY = "XyZboundary123"
OVER_5_MB = b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024)


def part(name: str, value: bytes, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def request(*parts: bytes, boundary: str | None = BOUNDARY, end: bool = True):
    body = b"".join(parts) + (f"--{BOUNDARY}--\r\n".encode() if end else b"")
    event = load_event("edit_multipart", body=base64.b64encode(body).decode())
    event["headers"]["Content-Type"] = "multipart/form-data" + (f"; boundary={boundary}" if boundary else "")
    return parse_event(event)


def refused(req) -> tuple[int, str]:
    with pytest.raises(ApiError) as err:
        edits.parse(req)
    return err.value.status, err.value.code


@pytest.fixture(autouse=True)
def _settings(monkeypatch):
    for name in ("REPLICATE_EDIT_MODELS", "REPLICATE_EDIT_VERSION", "REPLICATE_EDIT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REPLICATE_EDIT_INPUTS", '{"catacolabs/cartoonify": ["style"]}')


def test_files_urls_model_and_input_fields():
    # GIVEN two files, an image_url, a url (the IA Flash name), a model and an input JSON field
    files = [render(b"a"), b"GIF89a" + b"\0" * 20]
    req = request(
        part("image", files[0], "a.png", "image/png"),
        part("image", files[1], "b.gif", "application/octet-stream"),
        part("image_url", b"https://example.com/c.jpg"),
        part("url", b"https://example.com/d.webp"),
        part("model", b"catacolabs/cartoonify"),
        part("input", b'{"style": "pixar"}'),
    )

    # WHEN it is parsed
    order = edits.parse(req)

    # THEN there are four sources, typed by their bytes (not by the part's content type)
    assert [(s.data, s.content_type, s.url) for s in order.sources] == [
        (files[0], "image/png", None),
        (files[1], "image/gif", None),
        (None, None, "https://example.com/c.jpg"),
        (None, None, "https://example.com/d.webp"),
    ]
    assert order.model == catalog.get("cartoonify").ref  # the catalog's row, pinned
    assert order.overrides == {"style": "pixar"}


def test_eight_images_is_the_limit():
    eight = [part("image", render(bytes([i])), f"{i}.png") for i in range(8)]
    assert len(edits.parse(request(*eight)).sources) == 8
    assert refused(request(*eight, part("image_url", b"https://example.com/9.png"))) == (400, "too_many_images")


@pytest.mark.parametrize(
    ("req", "expected"),
    [
        (lambda: request(part("image", render(b"x"), "x.png"), boundary=None), (400, "invalid_multipart")),
        (lambda: request(part("image", render(b"x"), "x.png"), end=False), (400, "invalid_multipart")),
        (lambda: request(b"garbage without any boundary line\r\n"), (400, "invalid_multipart")),
        (lambda: request(), (400, "invalid_multipart")),
        (lambda: request(part("model", b"catacolabs/cartoonify")), (400, "missing_image")),
        (lambda: request(part("images", render(b"x"), "x.png")), (400, "unknown_field")),
        (lambda: request(part("image", b"", "empty.png")), (400, "not_an_image")),
        (lambda: request(part("image", b"%PDF-1.4", "doc.pdf")), (400, "not_an_image")),
        (
            lambda: request(part("image", render(b"x")[:16] + b"\0" * (5 * 1024 * 1024), "big.png")),
            (413, "image_too_large"),
        ),
        (lambda: request(part("image_url", b"http://example.com/a.png")), (400, "invalid_image_url")),
        (lambda: request(part("image", render(b"x"), "x.png"), part("input", b"not json")), (400, "invalid_input")),
        (lambda: request(part("image", render(b"x"), "x.png"), part("model", b"x/y")), (400, "model_not_allowed")),
    ],
    ids=[
        "no boundary",
        "truncated",
        "garbage",
        "no parts",
        "no image",
        "unknown part",
        "empty file",
        "pdf",
        "over 5 MB",
        "http url",
        "input not json",
        "model not allowed",
    ],
)
def test_bad_multipart_bodies(req, expected):
    assert refused(req()) == expected


def test_todays_openai_form_fields_are_taken_as_text():
    # The openai SDK sends them as multipart text parts: "false", "0", "auto"
    parts = {"stream": "false", "partial_images": "0", "moderation": "auto", "safety_identifier": "u-9"}
    from imagegen.api import fields

    assert fields.end_user(parts) == "u-9"
    with pytest.raises(ApiError) as refused:
        fields.end_user({**parts, "stream": "true"})
    assert refused.value.param == "stream"
