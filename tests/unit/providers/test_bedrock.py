"""Bedrock adapters: request bodies per documented format, responses, filtering, errors, sizes, regions.

Wire-level tests go through localdev/fake_models.py (botocore pointed at it with
AWS_ENDPOINT_URL_BEDROCK_RUNTIME, real signed requests, real ClientErrors); error mapping
uses botocore's Stubber, which answers before any HTTP (and so before any retry).
"""

from __future__ import annotations

import base64
import io
import json
import struct
import time
from dataclasses import replace

import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from imagegen import catalog
from imagegen.errors import ApiError, ConfigError
from imagegen.orders import Params
from imagegen.providers import bedrock
from imagegen.providers import runtime as invoke
from localdev.fake_models import FakeModels, png

SD35 = catalog.get("sd3.5-large")
ULTRA = catalog.get("stable-image-ultra")
CORE = catalog.get("stable-image-core")
INPAINT = catalog.get("stable-image-inpaint")


def generate(model, params):
    """Every call of the request, one after another (jobs.run makes them a few at a time)."""
    return [image for call in bedrock.calls(model, model.ref, params) for image in call()]


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


def stub_answer(payload: dict, model=SD35) -> Stubber:
    stubber = Stubber(invoke.runtime_client("bedrock-runtime", model.region))
    stubber.add_response("invoke_model", {"body": streaming(payload), "contentType": "application/json"})
    stubber.activate()
    return stubber


def stub_error(code: str, status: int, message: str = "nope") -> Stubber:
    stubber = Stubber(invoke.runtime_client("bedrock-runtime", SD35.region))
    stubber.add_client_error("invoke_model", code, message, status)
    stubber.activate()
    return stubber


# --- request bodies, field by field against the documented formats ------------------------


@pytest.mark.parametrize("model", [SD35, ULTRA, CORE])
def test_sd3_body_uses_aspect_ratio_and_leaves_the_default_mode_unsaid(model):
    # text-to-image is every page's default mode, and Stable Image Core's page lists no `mode` at all
    params = Params(prompt="a cat", negative_prompt="dogs", width=1344, height=768, seed=99)
    body = bedrock.adapter_for(model).body(model, params)
    assert body == {
        "prompt": "a cat",
        "negative_prompt": "dogs",
        "seed": 99,
        "aspect_ratio": "16:9",
        "output_format": "png",
    }


def test_a_variation_sends_a_prompt_since_image_to_image_is_not_documented_without_one(fake):
    # GIVEN the fake, which refuses an empty image-to-image prompt as Stability's own API for SD3.5 does
    params = Params(prompt="", task="variation", image=png(128, 96, (9, 9, 9)))
    bedrock.validate(SD35, params)
    # WHEN a variation is made THEN it succeeds, sent with a prompt that asks for the same picture
    (image,) = generate(SD35, params)
    assert png_size(image) == (128, 96)
    (sent,) = fake.requests
    assert sent["body"]["prompt"] == bedrock.VARIATION_PROMPT and sent["body"]["mode"] == "image-to-image"


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        (CORE, {"prompt": "a cat", "mode": "text-to-image"}, "extraneous key [mode]"),  # Core's page: no mode
        (SD35, {"prompt": "a cat", "style_preset": "anime"}, "extraneous key [style_preset]"),  # Inpaint's, not SD3.5's
        (ULTRA, {"prompt": "a cat", "output_format": "webp"}, "output_format"),  # Ultra: JPEG, PNG
        (SD35, {"prompt": "", "mode": "image-to-image", "strength": 0.5, "image": "x"}, "minLength"),
    ],
)
def test_the_fake_refuses_what_a_models_page_does_not_list(fake, model, body, message):
    client = invoke.runtime_client("bedrock-runtime", model.region)
    with pytest.raises(client.exceptions.ValidationException, match=message.replace("[", r"\[").replace("]", r"\]")):
        client.invoke_model(modelId=model.ref, body=json.dumps(body), contentType="application/json")


def test_what_sd35s_page_allows_the_fake_allows_an_empty_prompt_and_webp(fake):
    client = invoke.runtime_client("bedrock-runtime", SD35.region)
    answer = client.invoke_model(modelId=SD35.ref, body=json.dumps({"prompt": "", "output_format": "webp"}))
    (image,) = json.loads(answer["body"].read())["images"]
    assert base64.b64decode(image)[8:12] == b"WEBP"


def test_a_filtered_answer_is_finish_reasons_alone_as_aws_documents_it(fake):
    client = invoke.runtime_client("bedrock-runtime", SD35.region)
    answer = client.invoke_model(modelId=SD35.ref, body=json.dumps({"prompt": "a [filtered] cat"}))
    assert json.loads(answer["body"].read()) == {"finish_reasons": ["Filter reason: prompt"]}


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [(1024, 1024, "1:1"), (1536, 640, "21:9"), (832, 1248, "2:3"), (1080, 1350, "4:5"), (640, 1493, None)],
)
def test_sd3_aspect_ratio_is_an_exact_mapping(width, height, ratio):
    assert bedrock.aspect_ratio(SD35, width, height) == ratio


# --- over the wire, through the fake ------------------------------------------------------


@pytest.mark.parametrize(("model", "size"), [(SD35, (832, 1248)), (ULTRA, (1024, 1024)), (CORE, (1344, 768))])
def test_each_model_round_trips_through_the_wire_format_in_its_region(fake, model, size, monkeypatch):
    # GIVEN a stack in us-east-1 and a model AWS offers on demand in us-west-2 only
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    params = Params(prompt="a lighthouse", width=size[0], height=size[1], seed=3)
    bedrock.validate(model, params)
    # WHEN it is generated through botocore and the fake Bedrock
    produced = generate(model, params)
    # THEN the fake got the adapter's body for that model id, signed for the model's region
    (request,) = fake.requests
    assert request["model"] == model.ref == model.id
    assert request["body"] == bedrock.adapter_for(model).body(model, params)
    assert "/us-west-2/bedrock/aws4_request" in request["headers"]["Authorization"]
    assert len(produced) == 1
    sizes = {"2:3": (832, 1216), "1:1": (1024, 1024), "16:9": (1344, 768)}
    assert png_size(produced[0]) == sizes[bedrock.aspect_ratio(model, *size)]


@pytest.mark.parametrize(
    ("model_id", "region", "message"),
    [
        # SD3.5 Large has no `us.` inference profile (AWS's ListInferenceProfiles)
        ("us.stability.sd3-5-large-v1:0", "us-west-2", "The provided model identifier is invalid."),
        # ...and is offered on demand in us-west-2 only (ListFoundationModels)
        ("stability.sd3-5-large-v1:0", "us-east-1", "The provided model identifier is invalid."),
        ("stability.stable-image-ultra-v1:1", "us-east-1", "The provided model identifier is invalid."),
        # The Image Services only through their `us.` profile
        ("stability.stable-image-inpaint-v1:0", "us-west-2", "with on-demand throughput isn't supported"),
        ("us.stability.stable-image-inpaint-v1:0", "eu-west-1", "The provided model identifier is invalid."),
        ("amazon.titan-image-generator-v2:0", "us-east-1", "The provided model identifier is invalid."),
    ],
)
def test_the_fake_refuses_a_model_where_aws_does_not_offer_it(fake, model_id, region, message):
    # GIVEN a model called where AWS's own lists say it is not offered (the old defaults among them)
    client = invoke.runtime_client("bedrock-runtime", region)
    body = json.dumps({"prompt": "a cat", "mode": "text-to-image", "aspect_ratio": "1:1"})
    # WHEN it is invoked THEN the fake answers AWS's ValidationException
    with pytest.raises(client.exceptions.ValidationException, match=message.replace(".", r"\.")):
        client.invoke_model(modelId=model_id, body=body, contentType="application/json", accept="application/json")


def test_every_catalog_model_is_served_where_the_catalog_calls_it(fake):
    # The fake knows nothing of our catalog: each Bedrock row answers from where the row says it runs.
    for model in catalog.models().values():
        if model.provider != "bedrock":
            continue
        params = Params(prompt="a cat", task="generate" if "generate" in model.tasks else "edit")
        if model.family == "stability-inpaint":
            image = png(64, 64, (1, 2, 3))
            params = Params(prompt="a cat", task="edit", image=image, mask=png(64, 64, (255, 255, 255)))
        assert generate(model, params), model.name
    assert {r["model"] for r in fake.requests} >= {
        "stability.sd3-5-large-v1:0",
        "us.stability.stable-image-inpaint-v1:0",
    }


@pytest.mark.parametrize("model", [SD35, ULTRA])
def test_content_filtered_is_a_422(fake, model):
    with pytest.raises(ApiError) as err:
        generate(model, Params(prompt="something [filtered]"))
    assert (err.value.status, err.value.code) == (422, "content_filtered")


def test_throttling_is_retried_three_times_then_a_429(fake):
    with pytest.raises(ApiError) as err:
        generate(SD35, Params(prompt="[throttle] busy"))
    assert (err.value.status, err.value.code) == (429, "throttled")
    assert len(fake.requests) == 3  # standard retries: 3 attempts


def test_a_read_timeout_is_a_504_and_is_not_retried(fake, monkeypatch):
    # GIVEN a 1 s read timeout and a model that takes 2 s
    monkeypatch.setenv("BEDROCK_READ_TIMEOUT", "1")
    with pytest.raises(ApiError) as err:
        generate(SD35, Params(prompt="[slow:2] a slow cat"))
    # THEN one attempt only: a retry could not finish inside API Gateway's 30 s
    assert (err.value.status, err.value.code) == (504, "provider_timeout")
    assert len(fake.requests) == 1


def test_a_failure_late_in_the_budget_is_not_retried(fake, monkeypatch):
    # GIVEN a sync budget of 3 s, a 2 s read timeout, and a model that is throttled after 1.5 s
    monkeypatch.setattr(invoke, "SYNC_BUDGET_SECONDS", 3.0)
    monkeypatch.setenv("BEDROCK_READ_TIMEOUT", "2")
    started = time.monotonic()
    with pytest.raises(ApiError) as err:
        generate(SD35, Params(prompt="[slow:1.5] [throttle] busy"))
    # THEN no second attempt: it could only end past the deadline (1.5 s + 2 s > 3 s)
    assert (err.value.status, err.value.code) == (429, "throttled")
    assert len(fake.requests) == 1
    assert time.monotonic() - started < 3.0


def test_model_access_not_enabled_is_a_503(fake):
    with pytest.raises(ApiError) as err:
        generate(SD35, Params(prompt="[access-denied]"))
    assert (err.value.status, err.value.code) == (503, "provider_unavailable")


# --- responses and errors (Stubber: the real response JSON, no HTTP) ----------------------


def test_sd3_inference_error_is_a_502_not_a_filter():
    answer = {"seeds": [1], "finish_reasons": ["Inference error"], "images": []}
    with stub_answer(answer), pytest.raises(ApiError) as err:
        generate(SD35, Params(prompt="x"))
    assert (err.value.status, err.value.code) == (502, "provider_error")


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
        generate(SD35, Params(prompt="x"))
    assert (err.value.status, err.value.code) == expected


def test_a_response_that_is_not_an_image_list_is_a_502():
    with stub_answer({"images": ["not base64!"]}), pytest.raises(ApiError) as err:
        generate(SD35, Params(prompt="x"))
    assert err.value.status == 502


# --- request families and their limits ------------------------------------------------------


def test_every_bedrock_row_has_an_adapter():
    for model in catalog.models().values():
        if model.provider == "bedrock":
            assert bedrock.adapter_for(model)


def test_an_unknown_family_is_a_configuration_error():
    with pytest.raises(ConfigError, match="has no adapter"):
        bedrock.adapter_for(replace(SD35, family="stability-erase"))


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        (SD35, Params(prompt="x", width=1000, height=700), "size"),
        (SD35, Params(prompt="x", n=5), "n"),
        (SD35, Params(prompt="x", task="edit", image=png(64, 64, (0, 0, 0)), n=5), "n"),  # edits too: up to 4
        (SD35, Params(prompt="x", cfg_scale=5), "cfg_scale"),
        (SD35, Params(prompt="x", steps=5), "steps"),
        (SD35, Params(prompt="x", seed=4294967295), "seed"),
        (SD35, Params(prompt="x" * 10001), "prompt"),
        (ULTRA, Params(prompt="x", task="edit", image=png(64, 64, (0, 0, 0))), "model"),
        (SD35, Params(prompt="x", task="edit", image=png(63, 64, (0, 0, 0))), "image"),
        (SD35, Params(prompt="x", task="edit", image=png(64, 200, (0, 0, 0))), "image"),  # 1:3.1
        (SD35, Params(prompt="x", task="edit", image=b"GIF89a" + bytes(20)), "image"),
        (INPAINT, Params(prompt="x", task="edit", image=png(64, 64, (0, 0, 0))), "mask"),
    ],
)
def test_values_outside_the_models_limits_are_a_400_naming_the_field(model, params, field):
    with pytest.raises(ApiError) as err:
        bedrock.validate(model, params)
    assert (err.value.status, err.value.code) == (400, "invalid_parameter")
    assert err.value.message.startswith(f"{field}:")
    assert err.value.param == field


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (SD35, Params(prompt="x" * 10000, width=9, height=21, seed=4294967294)),
        (SD35, Params(prompt="x", task="edit", image=png(64, 160, (0, 0, 0)), strength=1)),
        (ULTRA, Params(prompt="x", width=1536, height=640)),
    ],
)
def test_values_at_the_limits_are_accepted(model, params):
    bedrock.validate(model, params)


def test_the_fake_inpaint_refuses_images_aws_documents_it_refuses():
    # AWS, Stability AI Image Services (Inpaint): at least 64 px a side, at most 9,437,184 pixels, 1:2.5 to 2.5:1
    from localdev.fake_models import AwsError, invoke_inpaint

    def body(width, height):
        image = base64.b64encode(png(width, height, (0, 0, 0))).decode()
        return {"prompt": "x", "image": image, "mask": image}

    assert invoke_inpaint("stability.stable-image-inpaint-v1:0", body(64, 160))["images"]
    for size in ((63, 64), (64, 161), (3073, 3072)):
        with pytest.raises(AwsError) as refused:
            invoke_inpaint("stability.stable-image-inpaint-v1:0", body(*size))
        assert refused.value.code == "ValidationException", size
