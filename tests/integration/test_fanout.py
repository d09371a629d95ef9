"""One request, many billed model calls: capped, a few at a time, and nothing made is thrown away.

The fake Bedrock counts the invocations it answers at once (max_in_flight) and can fail the next few
(fail_next), so what the code does under a fan-out is seen from the provider's side.
"""

from __future__ import annotations

import base64
import io
import os

import boto3
import pytest
import requests
from PIL import Image

from imagegen import settings
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock, as a fixture)

pytestmark = pytest.mark.integration


def photo(width: int = 256, height: int = 256, colour=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def fresh(models):  # noqa: F811
    models.requests.clear()
    models.max_in_flight, models.fail_next, models.latency = 0, 0, 0.0
    settings.max_model_calls.cache_clear()
    yield models
    models.latency, models.fail_next = 0.0, 0
    os.environ.pop("MAX_MODEL_CALLS", None)
    settings.max_model_calls.cache_clear()


def test_n_images_are_n_calls_made_at_once(api, fresh):
    # GIVEN a model that takes 0.6 s a call and makes one image per call
    fresh.latency = 0.6
    # WHEN four images are asked for
    response = requests.post(f"{api}/v1/images/generations", json={"prompt": "a lighthouse", "n": 4}, timeout=30)
    # THEN four calls ran at the same time (not one after another), each with its own seed
    assert response.status_code == 201, response.text
    assert len(response.json()["data"]) == 4 and fresh.max_in_flight == 4
    assert len({sent["body"]["seed"] for sent in fresh.requests}) in (1, 4)  # 0 each = random per call


def test_an_edits_calls_run_at_most_four_at_once(api, fresh):
    # GIVEN an edit of 3 images with n=2 on SD3.5 (6 calls), each taking 0.4 s
    fresh.latency = 0.4
    body = {"image": [base64.b64encode(photo(colour=(i * 60, 0, 0))).decode() for i in range(3)], "n": 2}
    body |= {"prompt": "as a watercolour", "model": "sd3.5-large"}
    response = requests.post(f"{api}/v1/images/edits", json=body, timeout=30)
    # THEN all six images come back, but never more than four calls were in flight
    assert response.status_code == 201, response.text
    assert len(response.json()["data"]) == 6 and len(fresh.requests) == 6
    assert fresh.max_in_flight == 4
    # AND each source went to Bedrock encoded the same way every time it was sent
    sources = {sent["body"]["image"] for sent in fresh.requests}
    assert len(sources) == 3


@pytest.mark.parametrize(
    "cap, body, field",
    [
        (None, {"n": 4, "images": 3}, "n"),  # 12 calls past the default 8
        ("4", {"n": 1, "images": 5}, "image"),  # the images alone are past the cap
        ("2", {"n": 4, "images": 0}, "n"),  # a generation of 4 past a cap of 2
    ],
)
def test_past_the_cap_on_model_calls_is_a_400_naming_n_or_image_and_nothing_is_called(api, fresh, cap, body, field):
    if cap:
        os.environ["MAX_MODEL_CALLS"] = cap
    limit = int(cap or 8)
    if body["images"]:
        images = [base64.b64encode(photo()).decode()] * body["images"]
        request = {"image": images, "n": body["n"], "prompt": "x", "model": "sd3.5-large"}
        response = requests.post(f"{api}/v1/images/edits", json=request, timeout=30)
    else:
        response = requests.post(f"{api}/v1/images/generations", json={"prompt": "x", "n": body["n"]}, timeout=30)
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == field, response.text
    assert f"at most {limit}" in error["message"]
    assert fresh.requests == []


def test_a_failed_call_keeps_and_records_what_the_others_made(api, fresh, s3, bucket):
    # GIVEN the model fails the first of four calls (billed images from the other three are on their way)
    fresh.fail_next = 1
    # WHEN four images are asked for
    response = requests.post(f"{api}/v1/images/generations", json={"prompt": "a lighthouse", "n": 4}, timeout=30)
    # THEN the three that were made are answered, stored and recorded, and the job says what failed
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["data"]) == 3 and len(body["images"]) == 3
    for image in body["images"]:
        assert s3.get_object(Bucket=bucket, Key=image["key"])["ContentLength"] > 0
    job = requests.get(f"{api}/v1/jobs/{body['id']}", timeout=10).json()
    assert job["status"] == "succeeded" and "1 of 4 model calls failed" in job["error"]
    assert body["cost_usd"] == pytest.approx(3 * 0.08)
    # AND its usage is on the ledger at three images
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="usage/")
    assert any(f"/{body['id']}~3~" in item["Key"] for item in listed.get("Contents", []))


def test_when_every_call_fails_the_answer_is_the_error_and_nothing_is_stored(api, fresh, s3, bucket):
    fresh.fail_next = 2
    response = requests.post(f"{api}/v1/images/generations", json={"prompt": "a lighthouse", "n": 2}, timeout=30)
    assert response.status_code == 502 and response.json()["error"]["code"] == "provider_error", response.text
