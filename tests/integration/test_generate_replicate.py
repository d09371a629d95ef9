"""POST /v1/images/generations with provider replicate: the async path (202 -> signed webhook -> images in S3)."""

from __future__ import annotations

import requests

from tests.integration.conftest import JOB
from tests.integration.test_edit_api import wait_for_job


def test_replicate_text_to_image_is_async_and_stored_by_the_webhook(api, fake_replicate, s3, bucket):
    # GIVEN the fake Replicate behind the configured token and webhook secret
    # WHEN a client asks for a Replicate text-to-image generation
    response = requests.post(
        f"{api}/v1/images/generations",
        json={"prompt": "a lighthouse at dusk", "provider": "replicate"},
        headers=JOB,
        timeout=30,
    )
    # THEN it answers 202 with a job at once, and the webhook later stores the image
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["provider"] == "replicate" and body["links"] == {"self": f"/v1/jobs/{body['id']}"}
    job = wait_for_job(api, body["id"])
    assert job["status"] == "succeeded", job
    [image] = job["images"]
    assert image["key"].startswith("images/") and f"/{body['id']}/" in image["key"]
    stored = s3.get_object(Bucket=bucket, Key=image["key"])["Body"].read()
    downloaded = requests.get(image["url"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == stored
    assert stored.startswith(b"\x89PNG")
    # and the prediction Replicate received carried the prompt and a per-job webhook
    [create] = [r for r in fake_replicate.requests if body["id"] in r.get("webhook", "")]
    assert create["input"]["prompt"] == "a lighthouse at dusk"
    assert create["webhook_events_filter"] == ["completed"]


def jobs_in(s3, bucket: str) -> int:
    return sum(
        page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="jobs/")
    )


def test_openai_size_becomes_fluxs_aspect_ratio_and_what_flux_lacks_is_refused(api, fake_replicate, s3, bucket):
    # GIVEN the default Replicate model, FLUX schnell, whose inputs are an aspect ratio and 1-4 steps
    url = f"{api}/v1/images/generations"
    # WHEN a client sends OpenAI's size (and a seed) and waits for the images
    response = requests.post(
        url,
        json={"prompt": "a red kite", "model": "flux-schnell", "size": "1344x768", "seed": 7},
        headers={"prefer": "wait=10"},
        timeout=30,
    )
    # THEN the size reached Replicate as the ratio it means, and the finished job came back at once
    assert response.status_code == 201, response.text
    assert response.headers["preference-applied"] == "wait=10" and len(response.json()["data"]) == 1
    [create] = [r for r in fake_replicate.requests if response.json()["id"] in r.get("webhook", "")]
    assert create["input"] == {"prompt": "a red kite", "num_outputs": 1, "aspect_ratio": "16:9", "seed": 7}
    # and what FLUX cannot honour is a 400 naming the field, with no job written
    for fields, param in (
        ({"size": "1000x300"}, "size"),  # 3.3:1, no ratio near it
        ({"negative_prompt": "fog"}, "negative_prompt"),
        ({"steps": 20}, "steps"),
        ({"cfg_scale": 3.5}, "cfg_scale"),
    ):
        before = len(fake_replicate.requests), jobs_in(s3, bucket)
        refused = requests.post(url, json={"prompt": "x", "model": "flux-schnell", **fields}, timeout=30)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param, refused.text
        assert (len(fake_replicate.requests), jobs_in(s3, bucket)) == before  # no prediction, no job record
