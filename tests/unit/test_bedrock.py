"""Bedrock adapters: request bodies per documented format, responses, filtering, errors, sizes.

Wire-level tests go through localdev/fake_models.py (botocore pointed at it with
AWS_ENDPOINT_URL_BEDROCK_RUNTIME, real signed requests, real ClientErrors); error mapping
uses botocore's Stubber, which answers before any HTTP (and so before any retry).
"""

from __future__ import annotations

import base64
import io
import json
import struct

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from imagegen import bedrock, invoke
from imagegen.config import ConfigError
from imagegen.http import ApiError
from imagegen.invoke import Params
from localdev.fake_models import FakeModels, png

NOVA = "amazon.nova-canvas-v1:0"
SDXL = "stability.stable-diffusion-xl-v1"
SD35 = "stability.sd3-5-large-v1:0"
ULTRA = "stability.stable-image-ultra-v1:1"


@pytest.fixture
def fake(monkeypatch):
    """The local Bedrock/SageMaker fake, with botocore pointed at it."""
    server = FakeModels().start()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    yield server
    server.stop()


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def streaming(payload: dict) -> StreamingBody:
    raw = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def stub_answer(payload: dict) -> Stubber:
    stubber = Stubber(invoke.runtime_client("bedrock-runtime"))
    stubber.add_response("invoke_model", {"body": streaming(payload), "contentType": "application/json"})
    stubber.activate()
    return stubber


def stub_error(code: str, status: int, message: str = "nope") -> Stubber:
    stubber = Stubber(invoke.runtime_client("bedrock-runtime"))
    stubber.add_client_error("invoke_model", code, message, status)
    stubber.activate()
    return stubber


# --- request bodies, field by field against the documented formats ------------------------


def test_sdxl_body_has_weighted_prompts_and_every_setting():
    params = Params(prompt="a cat", negative_prompt="dogs", width=1152, height=896, seed=7, steps=40, cfg_scale=9.5)
    body = bedrock.adapter_for(SDXL).body(params)
    assert body["text_prompts"] == [{"text": "a cat", "weight": 1.0}, {"text": "dogs", "weight": -1.0}]
    assert body["cfg_scale"] == 9.5
    assert body["seed"] == 7
    assert body["steps"] == 40
    assert body["width"] == 1152
    assert body["height"] == 896
    assert body["samples"] == 1
    assert set(body) == {"text_prompts", "cfg_scale", "seed", "steps", "width", "height", "samples"}


def test_sdxl_defaults_match_the_seed_systems():
    body = bedrock.adapter_for(SDXL).body(Params(prompt="a cat"))
    assert body["text_prompts"] == [{"text": "a cat", "weight": 1.0}]
    assert (body["cfg_scale"], body["seed"], body["steps"], body["width"], body["height"]) == (7, 0, 30, 1024, 1024)


def test_nova_body_is_a_text_image_task():
    params = Params(prompt="a cat", negative_prompt="dogs", width=1280, height=720, seed=5, cfg_scale=8.0, n=3)
    body = bedrock.adapter_for(NOVA).body(params)
    assert body["taskType"] == "TEXT_IMAGE"
    assert body["textToImageParams"] == {"text": "a cat", "negativeText": "dogs"}
    config = body["imageGenerationConfig"]
    assert config == {"numberOfImages": 3, "width": 1280, "height": 720, "cfgScale": 8.0, "seed": 5}
    assert set(body) == {"taskType", "textToImageParams", "imageGenerationConfig"}


def test_nova_leaves_out_what_the_client_did_not_set():
    body = bedrock.adapter_for(NOVA).body(Params(prompt="a cat"))
    assert body["textToImageParams"] == {"text": "a cat"}  # negativeText has a minimum length of 1
    assert body["imageGenerationConfig"] == {"numberOfImages": 1, "width": 1024, "height": 1024}


@pytest.mark.parametrize("model", [SD35, ULTRA])
def test_sd3_body_uses_aspect_ratio_and_text_to_image_mode(model):
    params = Params(prompt="a cat", negative_prompt="dogs", width=1344, height=768, seed=99)
    body = bedrock.adapter_for(model).body(params)
    assert body == {
        "prompt": "a cat",
        "negative_prompt": "dogs",
        "seed": 99,
        "aspect_ratio": "16:9",
        "output_format": "png",
        "mode": "text-to-image",
    }


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [(1024, 1024, "1:1"), (1536, 640, "21:9"), (832, 1248, "2:3"), (1080, 1350, "4:5"), (640, 1493, None)],
)
def test_sd3_aspect_ratio_is_an_exact_mapping(width, height, ratio):
    assert bedrock.aspect_ratio(width, height) == ratio


# --- over the wire, through the fake ------------------------------------------------------


@pytest.mark.parametrize(("model", "size"), [(NOVA, (512, 768)), (SDXL, (832, 1216)), (SD35, (832, 1248))])
def test_each_family_round_trips_through_the_wire_format(fake, model, size):
    # GIVEN a request for a model of each family
    params = Params(prompt="a lighthouse", width=size[0], height=size[1], seed=3)
    bedrock.validate(model, params)
    # WHEN it is generated through botocore and the fake Bedrock
    produced = bedrock.generate(model, params)
    # THEN the fake got exactly the adapter's body for that model id, and real PNGs came back
    (request,) = fake.requests
    assert request["model"] == model
    assert request["body"] == bedrock.adapter_for(model).body(params)
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"].startswith("AWS4-HMAC-SHA256")
    assert len(produced) == 1
    expected = {"1:1": (1024, 1024), "2:3": (832, 1216)}
    assert png_size(produced[0]) == (size if model != SD35 else expected["2:3"])


def test_nova_returns_n_images_from_one_call(fake):
    produced = bedrock.generate(NOVA, Params(prompt="three cats", width=320, height=320, n=3))
    assert len(fake.requests) == 1
    assert len(produced) == 3 and len(set(produced)) == 3
    assert all(png_size(image) == (320, 320) for image in produced)


@pytest.mark.parametrize("model", [NOVA, SDXL, SD35])
def test_content_filtered_is_a_422_for_every_family(fake, model):
    with pytest.raises(ApiError) as err:
        bedrock.generate(model, Params(prompt="something [filtered]"))
    assert (err.value.status, err.value.code) == (422, "content_filtered")


def test_throttling_is_retried_three_times_then_a_429(fake):
    with pytest.raises(ApiError) as err:
        bedrock.generate(NOVA, Params(prompt="[throttle] busy"))
    assert (err.value.status, err.value.code) == (429, "throttled")
    assert len(fake.requests) == 3  # standard retries: 3 attempts


def test_a_read_timeout_is_a_504_and_is_not_retried(fake, monkeypatch):
    # GIVEN a 1 s read timeout and a model that takes 2 s
    monkeypatch.setenv("BEDROCK_READ_TIMEOUT", "1")
    with pytest.raises(ApiError) as err:
        bedrock.generate(NOVA, Params(prompt="[slow:2] a slow cat"))
    # THEN one attempt only: a retry could not finish inside API Gateway's 30 s
    assert (err.value.status, err.value.code) == (504, "provider_timeout")
    assert len(fake.requests) == 1


def test_model_access_not_enabled_is_a_503(fake):
    with pytest.raises(ApiError) as err:
        bedrock.generate(NOVA, Params(prompt="[access-denied]"))
    assert (err.value.status, err.value.code) == (503, "provider_unavailable")


# --- responses and errors (Stubber: the real response JSON, no HTTP) ----------------------


def test_sdxl_response_artifacts_are_decoded():
    image = png(8, 8, (1, 2, 3))
    with stub_answer(
        {
            "result": "success",
            "artifacts": [{"seed": 1, "base64": base64.b64encode(image).decode(), "finishReason": "SUCCESS"}],
        }
    ):
        assert bedrock.generate(SDXL, Params(prompt="x")) == [image]


def test_sd3_inference_error_is_a_502_not_a_filter():
    answer = {"seeds": [1], "finish_reasons": ["Inference error"], "images": []}
    with stub_answer(answer), pytest.raises(ApiError) as err:
        bedrock.generate(SD35, Params(prompt="x"))
    assert (err.value.status, err.value.code) == (502, "provider_error")


def test_nova_error_field_that_is_a_filter_is_a_422_and_others_a_502():
    answer = {"images": [], "error": "The generated image has been blocked by our content filters."}
    with stub_answer(answer), pytest.raises(ApiError) as err:
        bedrock.generate(NOVA, Params(prompt="x"))
    assert err.value.status == 422
    with stub_answer({"images": [], "error": "something broke"}), pytest.raises(ApiError) as err:
        bedrock.generate(NOVA, Params(prompt="x"))
    assert err.value.status == 502


@pytest.mark.parametrize(
    ("code", "status", "message", "expected"),
    [
        ("ThrottlingException", 429, "Too many requests", (429, "throttled")),
        ("ServiceQuotaExceededException", 429, "quota", (429, "throttled")),
        ("ModelTimeoutException", 408, "timed out", (504, "provider_timeout")),
        ("ModelErrorException", 424, "model failed", (502, "provider_error")),
        ("ModelNotReadyException", 429, "not ready", (502, "provider_error")),
        ("ServiceUnavailableException", 503, "unavailable", (502, "provider_error")),
        ("AccessDeniedException", 403, "no access", (503, "provider_unavailable")),
        (
            "ValidationException",
            400,
            "This request has been blocked by our content filters.",
            (422, "content_filtered"),
        ),
        ("ValidationException", 400, "Malformed input request", (422, "provider_rejected")),
    ],
)
def test_bedrock_errors_map_to_clear_api_errors(code, status, message, expected):
    with stub_error(code, status, message), pytest.raises(ApiError) as err:
        bedrock.generate(NOVA, Params(prompt="x"))
    assert (err.value.status, err.value.code) == expected


def test_a_response_that_is_not_an_image_list_is_a_502():
    with stub_answer({"images": ["not base64!"]}), pytest.raises(ApiError) as err:
        bedrock.generate(NOVA, Params(prompt="x"))
    assert err.value.status == 502


# --- model families and their limits -------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        (NOVA, "Nova Canvas"),
        ("amazon.titan-image-generator-v2:0", "Nova Canvas"),
        ("us.amazon.nova-canvas-v1:0", "Nova Canvas"),
        (SDXL, "Stability SDXL"),
        (SD35, "Stability SD3.5 Large"),
        ("us.stability.stable-image-ultra-v1:1", "Stability SD3/Stable Image"),
    ],
)
def test_family_is_chosen_by_model_id_prefix(model, family):
    assert bedrock.adapter_for(model).name == family


def test_unknown_family_is_a_configuration_error():
    with pytest.raises(ConfigError, match="no known request format"):
        bedrock.adapter_for("acme.imagine-v9")


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        (SDXL, Params(prompt="x", width=1000, height=1000), "width"),
        (SDXL, Params(prompt="x", height=900), "height"),
        (SDXL, Params(prompt="x", steps=5), "steps"),
        (SDXL, Params(prompt="x", cfg_scale=36), "cfg_scale"),
        (SDXL, Params(prompt="x", n=2), "n"),
        (SDXL, Params(prompt="x" * 2001), "prompt"),
        (NOVA, Params(prompt="x", width=330), "width"),
        (NOVA, Params(prompt="x", width=4096, height=512), "width"),  # 8:1
        (NOVA, Params(prompt="x", width=2064, height=2048), "width"),  # over 4,194,304 pixels
        (NOVA, Params(prompt="x", height=8000), "height"),
        (NOVA, Params(prompt="x", cfg_scale=1.0), "cfg_scale"),
        (NOVA, Params(prompt="x", seed=858_993_460), "seed"),
        (NOVA, Params(prompt="x", steps=30), "steps"),
        (NOVA, Params(prompt="x", n=5), "n"),
        (NOVA, Params(prompt="x" * 1025), "prompt"),
        (NOVA, Params(prompt="x", negative_prompt="y" * 1025), "negative_prompt"),
        (SD35, Params(prompt="x", width=1000, height=700), "width"),
        (SD35, Params(prompt="x", n=2), "n"),
        (SD35, Params(prompt="x", cfg_scale=5), "cfg_scale"),
        (SD35, Params(prompt="x" * 10001), "prompt"),
    ],
)
def test_values_outside_the_models_limits_are_a_400_naming_the_field(model, params, field):
    with pytest.raises(ApiError) as err:
        bedrock.validate(model, params)
    assert (err.value.status, err.value.code) == (400, "invalid_parameter")
    assert err.value.message.startswith(f"{field}:")


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (SDXL, Params(prompt="x", width=640, height=1536, steps=50, cfg_scale=35, seed=4294967295)),
        (NOVA, Params(prompt="x" * 1024, width=2048, height=2048, cfg_scale=1.1, seed=858_993_459, n=4)),
        (NOVA, Params(prompt="x", width=4096, height=1024)),
        (SD35, Params(prompt="x" * 10000, width=9, height=21, seed=4294967294)),
    ],
)
def test_values_at_the_limits_are_accepted(model, params):
    bedrock.validate(model, params)
