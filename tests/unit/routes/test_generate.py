"""The generate handler: request forms, validation, provider dispatch, S3 objects and job records.

S3 is moto (the `aws` fixture); Bedrock and SageMaker answer through botocore's Stubber with
each model's real response JSON and real PNG/JPEG bytes.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import sys

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from imagegen import catalog
from imagegen.providers import runtime as invoke
from localdev.fake_models import jpeg, png
from localdev.server import load_handler
from tests.conftest import FakeContext, load_event
from tests.unit.conftest import BUCKET

KEY = re.compile(r"^images/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}/(\d+)\.(png|jpg)$")
IMAGES = [png(16, 16, (10, 20, 30), "one")]


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch):
    for name in ("GENERATE_MODELS", "SAGEMAKER_ENDPOINT_NAME", "IMAGEGEN_MODELS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def generate():
    return load_handler("generate")


def configure(monkeypatch, **env: str) -> None:
    """Set generate's environment as Terraform would, and forget the settings read so far."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    catalog.enabled.cache_clear()


def streaming(payload: dict) -> StreamingBody:
    raw = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(raw), len(raw))


def stub_bedrock(payload: dict) -> Stubber:
    stubber = Stubber(invoke.runtime_client("bedrock-runtime", catalog.get("sd3.5-large").region))
    stubber.add_response("invoke_model", {"body": streaming(payload), "contentType": "application/json"})
    stubber.activate()
    return stubber


def sd3_answer(images: list[bytes], reasons: tuple = (None,)) -> dict:
    return {"seeds": [1], "finish_reasons": list(reasons), "images": [base64.b64encode(i).decode() for i in images]}


def post(body: dict) -> dict:
    event = load_event("generate_post")
    event["body"] = json.dumps(body)
    return event


def call(generate, event: dict) -> tuple[int, dict]:
    response = generate(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_post_stores_each_image_and_answers_201_with_presigned_urls(aws, generate):
    # GIVEN SD3.5 Large (the default model) answering a real PNG
    with stub_bedrock(sd3_answer(IMAGES)):
        # WHEN the documented JSON form is posted
        status, body = call(generate, load_event("generate_post"))
    # THEN 201 with the job and one presigned URL per image
    assert status == 201
    assert body["status"] == "succeeded" and body["provider"] == "bedrock"
    assert body["model"] == "stability.sd3-5-large-v1:0"
    assert body["prompt"] == "a lighthouse at dawn, oil painting"
    assert len(body["images"]) == 1
    s3 = boto3.client("s3")
    for n, (image, expected) in enumerate(zip(body["images"], IMAGES, strict=True)):
        match = KEY.match(image["key"])
        assert match and match.group(1) == str(n) and body["id"] in image["key"]
        assert image["url"].startswith("https://") and "X-Amz-Signature" in image["url"] and image["expires_at"]
        stored = s3.get_object(Bucket=BUCKET, Key=image["key"])
        assert stored["Body"].read() == expected and stored["ContentType"] == "image/png"
    # AND the job record says succeeded, with the request's parameters, readable by GET /v1/jobs/{id}
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=f"jobs/{body['id']}.json")["Body"].read())
    assert record["status"] == "succeeded" and "offline" not in record
    assert record["parameters"] == {"negative_prompt": "blurry", "width": 1024, "height": 1024, "seed": 42,
                                    "n": 1, "task": "generate"}  # fmt: skip
    job = load_handler("get_job")(load_event("get_job", pathParameters={"id": body["id"]}), FakeContext())
    view = json.loads(job["body"])
    assert job["statusCode"] == 200 and [i["key"] for i in view["images"]] == [i["key"] for i in body["images"]]


def test_an_unknown_field_is_named_with_the_fields_there_are(aws, generate):
    status, body = call(generate, post({"prompt": "x", "colour": "red"}))
    assert status == 400 and body["error"]["param"] == "colour"
    assert body["error"]["message"].startswith("colour: unknown field; the fields are ")
    assert "negative_prompt" in body["error"]["message"]


def test_message_is_the_bedrock_seeds_name_for_prompt(aws, generate):
    with stub_bedrock(sd3_answer(IMAGES)):
        status, body = call(generate, load_event("generate_message"))
    assert status == 201 and body["prompt"] == "a red fox in the snow"


def test_get_with_prompt_query_is_the_sagemaker_seeds_form(aws, generate, monkeypatch):
    # GIVEN SageMaker as the default provider, answering a real JPEG
    configure(monkeypatch, SAGEMAKER_ENDPOINT_NAME="sd-endpoint", GENERATE_MODELS="sagemaker,flux-schnell")
    image = jpeg(64, 64, (1, 2, 3), "astronaut")
    stubber = Stubber(invoke.runtime_client("sagemaker-runtime"))
    answer = json.dumps({"generated_images": [base64.b64encode(image).decode()], "prompt": "x"}).encode()
    stubber.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json;jpeg"},
        {
            "EndpointName": "sd-endpoint",
            "Body": json.dumps(invoke_body := {
                "prompt": "an astronaut riding a horse", "width": 512, "height": 512, "num_images_per_prompt": 1,
                "num_inference_steps": 50, "guidance_scale": 7.5,
            }),
            "ContentType": "application/json",
            "Accept": "application/json;jpeg",
        },
    )  # fmt: skip
    # WHEN the seed's GET ?prompt= form is used
    with stubber:
        status, body = call(generate, load_event("generate_get"))
    # THEN the endpoint got the documented body and the JPEG is stored as image/jpeg
    assert invoke_body["prompt"] == body["prompt"]
    assert status == 201 and body["provider"] == "sagemaker" and body["model"] == "sd-endpoint"
    assert body["images"][0]["key"].endswith("/0.jpg")
    stored = boto3.client("s3").get_object(Bucket=BUCKET, Key=body["images"][0]["key"])
    assert stored["Body"].read() == image and stored["ContentType"] == "image/jpeg"


def test_get_query_numbers_are_parsed_and_checked(aws, generate):
    event = load_event("generate_get")
    event["queryStringParameters"] = {"prompt": "x", "width": "wide"}
    status, body = call(generate, event)
    assert status == 400 and body["error"]["message"].startswith("width:")


def test_content_filtered_is_a_422_and_stores_nothing(aws, generate):
    with stub_bedrock(sd3_answer([], ("Filter reason: prompt",))):
        status, body = call(generate, post({"prompt": "x"}))
    assert status == 422 and body["error"]["code"] == "content_filtered"
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_throttled_bedrock_past_the_deadline_is_a_429_whose_retry_after_comes_from_the_quota(
    aws, generate, monkeypatch
):
    # GIVEN a model with a quota of 6 a minute on this account, and no time left to retry
    from imagegen.jobs import run

    monkeypatch.setenv("MODEL_QUOTAS", '{"sd3.5-large": 6}')
    monkeypatch.setattr(run, "SYNC_BUDGET_SECONDS", run.SYNC_CALL_ROOM_SECONDS)
    stubber = Stubber(invoke.runtime_client("bedrock-runtime", catalog.get("sd3.5-large").region))
    stubber.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
    with stubber:
        response = generate(post({"prompt": "x"}), FakeContext())
    # THEN a 429 whose Retry-After is when the quota has room again: 60 s / 6 for the one call refused
    body = json.loads(response["body"])
    assert response["statusCode"] == 429 and body["error"]["code"] == "throttled"
    assert response["headers"]["retry-after"] == "10" and "respond-async" in body["error"]["message"]


def test_a_throttled_call_is_retried_with_backoff_while_the_deadline_allows(aws, generate, monkeypatch):
    # GIVEN Bedrock throttling the first two calls, then answering
    from imagegen.jobs import run

    monkeypatch.setattr(run, "BACKOFF_BASE_SECONDS", 0.01)
    stubber = Stubber(invoke.runtime_client("bedrock-runtime", catalog.get("sd3.5-large").region))
    for _ in range(2):
        stubber.add_client_error("invoke_model", "ThrottlingException", "Too many requests", 429)
    stubber.add_response(
        "invoke_model", {"body": streaming(sd3_answer([png(8, 8, (1, 2, 3))])), "contentType": "application/json"}
    )
    with stubber:
        status, body = call(generate, post({"prompt": "x"}))
    # THEN the image is made: the client never saw the throttling
    assert status == 201 and len(body["data"]) == 1
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"prompt": "x", "provider": "dall-e"}, 400, "unknown_provider", "provider"),
        ({"prompt": "x", "provider": "sagemaker"}, 400, "provider_not_enabled", "provider"),
        ({"prompt": "x", "model": "stability.stable-diffusion-xl-v1"}, 400, "model_not_allowed", "model"),
        ({"prompt": "x", "model": "stable-image-ultra"}, 400, "model_not_allowed", "model"),  # not enabled
        ({"prompt": "x" * 10001}, 400, "invalid_parameter", "prompt"),
        ({"prompt": ""}, 400, "invalid_parameter", "prompt"),
        ({"negative_prompt": "x"}, 400, "invalid_parameter", "prompt"),
        ({"prompt": "x", "n": 5}, 400, "invalid_parameter", "n"),
        ({"prompt": "x", "n": 0}, 400, "invalid_parameter", "n"),
        ({"prompt": "x", "n": 1.5}, 400, "invalid_parameter", "n"),
        ({"prompt": "x", "width": 1000}, 400, "invalid_parameter", "size"),
        ({"prompt": "x", "height": True}, 400, "invalid_parameter", "height"),
        ({"prompt": "x", "seed": -1}, 400, "invalid_parameter", "seed"),
        ({"prompt": "x", "cfg_scale": "high"}, 400, "invalid_parameter", "cfg_scale"),
        ({"prompt": "x", "size": "big"}, 400, "invalid_parameter", "size"),  # OpenAI's size, malformed
        ({"prompt": "x", "message": "y"}, 400, "invalid_parameter", "message"),
        # what no model here can honour is refused by name (README: OpenAI compatibility), never dropped
        ({"prompt": "x", "style": "vivid"}, 400, "invalid_parameter", "style"),
        ({"prompt": "x", "background": "transparent"}, 400, "invalid_parameter", "background"),
        ({"prompt": "x", "output_format": "gif"}, 400, "invalid_parameter", "output_format"),
        ({"prompt": "x", "quality": "hd"}, 400, "invalid_parameter", "quality"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(aws, generate, body, status, code, field):
    got_status, got = call(generate, post(body))
    assert (got_status, got["error"]["code"]) == (status, code)
    assert got["error"]["message"].startswith(f"{field}:")
    assert got["error"]["param"] == field


def test_a_body_that_is_not_json_is_a_400(aws, generate):
    event = load_event("generate_post")
    event["body"] = "{nope"
    assert call(generate, event)[1]["error"]["code"] == "invalid_json"


def test_request_may_pick_an_enabled_model_by_catalog_name(aws, generate, monkeypatch):
    configure(monkeypatch, GENERATE_MODELS="sd3.5-large,stable-image-ultra")
    with stub_bedrock(sd3_answer(IMAGES)):
        status, body = call(generate, post({"prompt": "x", "model": "stable-image-ultra", "size": "1344x768"}))
    assert status == 201, body
    assert body["model"] == "stability.stable-image-ultra-v1:1"


def test_a_model_not_in_the_catalog_is_a_startup_configuration_error(aws, monkeypatch, caplog):
    # GIVEN a model name the catalog does not know
    monkeypatch.setenv("GENERATE_MODELS", "acme-imagine-v9")
    # WHEN the function cold-starts
    with caplog.at_level(logging.ERROR, logger="imagegen"):
        generate = load_handler("generate")
    # THEN the log says what is wrong, and requests get a 503, not a 500 or a provider call
    assert "acme-imagine-v9" in caplog.text and "not in the model catalog" in caplog.text
    status, body = call(generate, post({"prompt": "x"}))
    assert (status, body["error"]["code"]) == (503, "not_configured")


def test_offline_models_mark_the_job(aws, generate, monkeypatch):
    monkeypatch.setenv("IMAGEGEN_MODELS_OFFLINE", "1")
    with stub_bedrock(sd3_answer(IMAGES)):
        status, body = call(generate, post({"prompt": "x"}))
    assert status == 201 and body["offline"] is True
    record = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=f"jobs/{body['id']}.json")["Body"].read())
    assert record["offline"] is True


def test_a_provider_answer_that_is_not_an_image_is_a_502(aws, generate):
    with stub_bedrock(sd3_answer([b"<html>not an image</html>"])):
        status, body = call(generate, post({"prompt": "x"}))
    assert (status, body["error"]["code"]) == (502, "provider_error")


def test_replicate_without_the_async_module_is_a_503_not_a_500(aws, generate, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_predictions(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "replicate" or name.startswith("replicate."):
            raise ImportError("no replicate")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.delitem(sys.modules, "imagegen.providers.replicate", raising=False)
    monkeypatch.setitem(sys.modules, "imagegen.providers.replicate", None)  # as a build without it
    monkeypatch.setattr(builtins, "__import__", no_predictions)
    status, body = call(generate, post({"prompt": "x", "provider": "replicate"}))
    assert (status, body["error"]["code"]) == (503, "provider_unavailable")


def test_the_default_model_is_sd35_large_on_demand_in_us_west_2():
    # SD3.5 Large is offered on demand in us-west-2 only, with no `us.` profile (AWS's own lists):
    # it is called there whatever the stack's region.
    default = catalog.for_task("generate", "generate")[0]
    assert (default.name, default.ref, default.region) == ("sd3.5-large", "stability.sd3-5-large-v1:0", "us-west-2")


@pytest.mark.parametrize(
    "raw",
    [
        '{"prompt": "' + "x" * 10 + '", "' + "k" * 3_200_000 + '": 1}',  # an unknown field 3.2 MB long
        '{"prompt": "x", "' + "é" * 2_200_000 + '": 1}',  # 2.2 MB of é, 6 bytes each once escaped
        '{"prompt": "x", "model": "' + "é" * 2_200_000 + '"}',
        '{"prompt": "x", "provider": "' + "p" * 3_000_000 + '"}',
        '{"prompt": "x", "' + "n" * 1_000_000 + '": {"a": NaN}}',  # a JSON path made of client keys
    ],
)
def test_an_error_echoes_at_most_a_short_cut_prefix_of_the_request(aws, generate, raw):
    event = load_event("generate_post")
    event["body"] = raw
    response = generate(event, FakeContext())
    assert 400 <= response["statusCode"] < 500
    assert len(response["body"]) < 4096, len(response["body"])
    error = json.loads(response["body"])["error"]
    assert error["param"] is None or len(error["param"]) <= 64


@pytest.mark.parametrize("raw", ['{"prompt": "a \\ud800 b"}', '{"prompt": "x", "negative_prompt": "\\udfff"}'])
def test_text_that_is_not_unicode_is_a_400_naming_the_field_before_any_call(aws, generate, raw):
    event = load_event("generate_post")
    event["body"] = raw
    with Stubber(invoke.runtime_client("bedrock-runtime", catalog.get("sd3.5-large").region)) as nothing_called:
        status, body = call(generate, event)
    nothing_called.assert_no_pending_responses()
    assert status == 400 and body["error"]["param"] in ("prompt", "negative_prompt")
    assert "UTF-8" in body["error"]["message"]
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_b64_json_past_lambdas_answer_limit_is_a_413_that_says_to_ask_for_url(aws, generate):
    # GIVEN a model answering a 4.5 MB image: 6 MB once base64-encoded, more than Lambda may answer
    big = png(8, 8, (1, 2, 3)) + b"\0" * (4_500_000)
    with stub_bedrock(sd3_answer([big])):
        status, body = call(generate, post({"prompt": "x", "response_format": "b64_json"}))
    # THEN a 413 that says what to do, never an answer Lambda could not return
    assert status == 413 and body["error"]["code"] == "response_too_large"
    assert "response_format url" in body["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"stream": True}, "stream"),
        ({"partial_images": 2}, "partial_images"),
        ({"moderation": "low"}, "moderation"),
        ({"safety_identifier": 7}, "safety_identifier"),
    ],
)
def test_todays_openai_fields_that_cannot_be_honoured_are_refused_by_name(aws, generate, fields, param):
    status, body = call(generate, post({"prompt": "x", **fields}))
    assert status == 400 and body["error"]["param"] == param
    if param == "stream":
        assert "Prefer: wait" in body["error"]["message"]  # says how to get the image instead


def test_todays_openai_fields_that_change_nothing_are_taken_and_the_end_user_recorded(aws, generate):
    fields = {"stream": False, "partial_images": 0, "moderation": "auto", "safety_identifier": "user-1234"}
    with stub_bedrock(sd3_answer(IMAGES)):
        status, body = call(generate, post({"prompt": "x", **fields}))
    assert status == 201, body
    record = json.loads(boto3.client("s3").get_object(Bucket=BUCKET, Key=f"jobs/{body['id']}.json")["Body"].read())
    assert record["user"] == "user-1234"
