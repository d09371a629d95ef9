"""Hostile input over HTTP (the local server, LocalStack, the fakes): always a 4xx JSON error, never a 500,
nothing written. Each case here was a 500 before (issue: 32 of 64 hostile requests)."""

from __future__ import annotations

import base64
import json

import pytest
import requests

from localdev.fake_replicate import render

PNG = base64.b64encode(render(b"hostile")).decode()


def keys(s3, bucket: str) -> set[str]:
    found = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found |= {item["Key"] for item in page.get("Contents", [])}
    return found


def post(api: str, path: str, data: bytes | str, content_type: str) -> requests.Response:
    return requests.post(f"{api}{path}", data=data, headers={"content-type": content_type}, timeout=30)


NUMBERS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999"]


@pytest.mark.parametrize("field", ["width", "height", "seed", "steps", "cfg_scale", "n"])
@pytest.mark.parametrize("number", NUMBERS)
def test_non_finite_numbers_in_a_generation_are_400_naming_the_field(api, fake_replicate, s3, bucket, field, number):
    before = keys(s3, bucket)
    response = post(api, "/v1/images/generations", f'{{"prompt": "x", "{field}": {number}}}', "application/json")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter" and error["message"].startswith(f"{field}: ")
    assert keys(s3, bucket) == before


@pytest.mark.parametrize("number", NUMBERS)
def test_non_finite_numbers_inside_an_edit_input_are_400(api, fake_replicate, s3, bucket, number):
    before = keys(s3, bucket)
    body = f'{{"image": "{PNG}", "input": {{"style": [1, {number}]}}}}'
    response = post(api, "/v1/images/edits", body, "application/json")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("input.style[1]: ")
    assert keys(s3, bucket) == before


def multipart(*parts: tuple[str, bytes, str]) -> tuple[bytes, str]:
    boundary = "hostile-boundary"
    body = b""
    for name, value, content_type in parts:
        filename = '; filename="x.png"' if name == "image" else ""
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n'.encode()
        body += f"Content-Type: {content_type}\r\n\r\n".encode() + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("field", ["image_url", "url", "model", "input"])
@pytest.mark.parametrize(
    ("value", "content_type"),
    [(b"\xff\xfe\xfd", "text/plain"), (b"https://example.com/a.png", "text/plain; charset=klingon")],
)
def test_multipart_text_that_is_not_utf8_is_400_naming_the_part(
    api, fake_replicate, s3, bucket, field, value, content_type
):
    before = keys(s3, bucket)
    body, form_type = multipart(("image", render(b"a"), "image/png"), (field, value, content_type))
    response = post(api, "/v1/images/edits", body, form_type)
    assert response.status_code == 400, response.text
    assert field in response.json()["error"]["message"]
    assert keys(s3, bucket) == before


def test_inputs_off_the_models_allowlist_are_400(api, fake_replicate, s3, bucket):
    before = keys(s3, bucket)
    for name in ("disable_safety_checker", "num_outputs", "mask_url"):
        body = {"image": PNG, "input": {name: True}}
        response = requests.post(f"{api}/v1/images/edits", json=body, timeout=30)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "input_not_allowed"
        assert response.json()["error"]["message"].startswith(f"input.{name}: ")
    assert keys(s3, bucket) == before


def test_json_nested_too_deeply_is_400(api, fake_replicate):
    body = '{"prompt": "x", "seed": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = post(api, "/v1/images/generations", body, "application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_a_body_over_6_mb_is_a_413_the_client_can_read(api):
    # requests sends the whole body before reading: the server must read (and drop) it, then answer
    # as API Gateway does when Lambda refuses the event
    response = requests.post(f"{api}/v1/images/edits", data=b"x" * (7 * 1024 * 1024), timeout=60)
    assert response.status_code == 413
    assert response.json() == {"message": "Request Too Long"}


def test_every_error_is_the_json_shape(api, fake_replicate):
    for body in ("{", "[]", '"x"', "null", json.dumps({"prompt": ""})):
        response = post(api, "/v1/images/generations", body, "application/json")
        assert 400 <= response.status_code < 500, (body, response.text)
        assert set(response.json()["error"]) >= {"code", "message"}


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        ("http-401", 503, "provider_unavailable"),  # our token: the operator's problem, not the client's
        ("http-402", 503, "provider_unavailable"),  # our billing
        ("http-429", 429, "throttled"),
        ("http-500", 502, "provider_error"),
        ("reject", 422, "provider_rejected"),  # Replicate's 422: the input
    ],
)
def test_replicate_errors_are_mapped_by_what_they_mean(api, fake_replicate, failure, status, code):
    body = {"image": PNG, "input": {"fake": failure}}
    response = requests.post(f"{api}/v1/images/edits", json=body, timeout=60)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"]["code"] == code
    assert payload["jobs"][0]["status"] == "failed"  # recorded, never left queued
    if status == 429:
        assert int(response.headers["retry-after"]) > 0
    assert fake_replicate.token not in response.text
