"""POST/GET /v1/images/generations over real HTTP: local server, LocalStack S3, fake Bedrock/SageMaker.

The fake models server (localdev/fake_models.py) is what `make serve` uses offline: botocore
reaches it through AWS_ENDPOINT_URL_BEDROCK_RUNTIME / AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME while
AWS_ENDPOINT_URL keeps pointing S3 at LocalStack.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import time
import zlib

import pytest
import requests

from imagegen import catalog
from localdev.fake_models import FakeModels

ENDPOINT_NAME = "it-stable-diffusion"


@pytest.fixture(scope="module")
def models(api):
    """The fake models, with the API's handlers pointed at them (as start_offline_models does)."""
    server = FakeModels().start()
    env = {
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": server.url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url,
        "SAGEMAKER_ENDPOINT_NAME": ENDPOINT_NAME,
        "IMAGEGEN_MODELS_OFFLINE": "1",
        "GENERATE_MODELS": "sd3.5-large,stable-image-ultra",
    }
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    catalog.enabled.cache_clear()
    yield server
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    catalog.enabled.cache_clear()
    server.stop()


def png_text(data: bytes) -> str:
    """The tEXt comment the fake writes into each PNG (the prompt it was made for)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    match = re.search(rb"tEXtComment\x00(.*?)(.{4})IDAT", data, re.S)
    assert match, "no tEXt chunk"
    return match.group(1)[:-4].decode("latin-1")


def test_prompt_gives_201_and_the_url_downloads_exactly_the_image(api, models, s3, bucket):
    # GIVEN the default model (SD3.5 Large, offline)
    # WHEN a client posts a prompt
    response = requests.post(f"{api}/v1/images/generations", json={"prompt": "a lighthouse"}, timeout=30)
    # THEN 201 with a presigned URL that downloads exactly the stored PNG
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "succeeded" and body["provider"] == "bedrock" and body["offline"] is True
    assert response.headers["location"] == f"/v1/jobs/{body['id']}"
    for image in body["images"]:
        download = requests.get(image["url"], timeout=10)
        stored = s3.get_object(Bucket=bucket, Key=image["key"])
        assert download.status_code == 200 and download.headers["content-type"] == "image/png"
        assert download.content == stored["Body"].read()
        assert png_text(download.content) == "a lighthouse"
    assert len(body["images"]) == 1
    # AND GET /v1/jobs/{id} shows the same job, offline
    job = requests.get(f"{api}/v1/jobs/{body['id']}", timeout=10).json()
    assert job["status"] == "succeeded" and job["offline"] is True
    assert [i["key"] for i in job["images"]] == [i["key"] for i in body["images"]]


def test_message_form_of_the_bedrock_seeds(api, models):
    body = {"message": "a red fox", "model": None}
    response = requests.post(f"{api}/v1/images/generations", json=body, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["prompt"] == "a red fox"


def test_the_default_model_sd35_large_is_called_on_demand_in_us_west_2(api, models):
    # GIVEN a stack in us-east-1, where AWS does not offer SD3.5 Large (the fake knows that from AWS's lists)
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    # WHEN the default model is asked for a 16:9 image
    body = {"prompt": "a lighthouse at dusk", "width": 1344, "height": 768}
    response = requests.post(f"{api}/v1/images/generations", json=body, timeout=30)
    # THEN Bedrock got SD3.5's own body (aspect ratio, no pixel sizes), by its id, in us-west-2
    assert response.status_code == 201, response.text
    sent = models.requests[-1]
    assert sent["model"] == "stability.sd3-5-large-v1:0", sent
    assert "/us-west-2/bedrock/aws4_request" in sent["headers"]["Authorization"]
    assert sent["body"]["aspect_ratio"] == "16:9" and "width" not in sent["body"]
    assert requests.get(response.json()["images"][0]["url"], timeout=10).content.startswith(b"\x89PNG")


def test_get_prompt_form_of_the_sagemaker_seed(api, models):
    # WHEN the SageMaker seed's form is used, picking the SageMaker provider
    response = requests.get(
        f"{api}/v1/images/generations", params={"prompt": "an astronaut", "provider": "sagemaker"}, timeout=30
    )
    # THEN the endpoint was invoked with json;jpeg and the JPEG downloads
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["provider"] == "sagemaker" and body["model"] == ENDPOINT_NAME
    assert models.requests[-1]["endpoint"] == ENDPOINT_NAME
    download = requests.get(body["images"][0]["url"], timeout=10)
    assert download.headers["content-type"] == "image/jpeg" and download.content.startswith(b"\xff\xd8\xff")


def test_content_filtered_is_a_422(api, models):
    response = requests.post(f"{api}/v1/images/generations", json={"prompt": "a [filtered] thing"}, timeout=30)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "content_filtered"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"prompt": "x", "provider": "midjourney"}, "unknown_provider", "provider"),
        ({"prompt": "x", "model": "stability.stable-diffusion-xl-v1"}, "model_not_allowed", "model"),
        ({"prompt": "x", "model": "stable-image-core"}, "model_not_allowed", "model"),  # not enabled here
        ({"prompt": "x" * 10001}, "invalid_parameter", "prompt"),
        ({"prompt": "x", "width": 1000, "height": 700}, "invalid_parameter", "size"),
        ({"prompt": "x", "height": 5000}, "invalid_parameter", "size"),
        ({"prompt": "x", "n": 5}, "invalid_parameter", "n"),
        ({"prompt": "x", "provider": "sagemaker", "width": 513}, "invalid_parameter", "width"),
    ],
)
def test_bad_requests_are_400_naming_the_field(api, models, body, code, field):
    response = requests.post(f"{api}/v1/images/generations", json=body, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["message"].startswith(f"{field}:")
    assert error["param"] == field


def test_100_concurrent_requests_give_100_jobs_and_100_objects(api, models, s3, bucket):
    # GIVEN 100 different prompts sent at once
    prompts = [f"concurrent prompt {i}" for i in range(100)]

    def generate(prompt):
        body = {"prompt": prompt, "width": 320, "height": 320}
        return prompt, requests.post(f"{api}/v1/images/generations", json=body, timeout=60)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(generate, prompts))
    elapsed = time.monotonic() - started
    # THEN every one is a 201 with its own job and its own key
    assert [r.status_code for _, r in results] == [201] * 100
    ids = {r.json()["id"] for _, r in results}
    keys = {r.json()["images"][0]["key"] for _, r in results}
    assert len(ids) == 100 and len(keys) == 100
    # AND S3 holds 100 objects, none overwritten: each one is the image made for its own prompt
    for prompt, response in results:
        key = response.json()["images"][0]["key"]
        data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert png_text(data) == prompt
        zlib.decompress(data[data.index(b"IDAT") + 4 : -16])  # the pixel data is intact
    assert elapsed < 30, f"100 requests took {elapsed:.1f} s"
