"""SageMaker Stable Diffusion endpoint: request JSON, Accept header, JPEG answers, errors, limits."""

from __future__ import annotations

import struct

import pytest
from botocore.stub import Stubber

from imagegen import catalog
from imagegen.errors import ApiError
from imagegen.orders import Params
from imagegen.providers import runtime as invoke
from imagegen.providers import sagemaker
from localdev.fake_models import FakeModels, jpeg


@pytest.fixture
def fake(monkeypatch):
    server = FakeModels().start()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    yield server
    server.stop()


def jpeg_segments(data: bytes) -> dict[int, bytes]:
    """Walk a baseline JPEG's marker segments up to SOS; checks the framing as a decoder would."""
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    segments, i = {}, 2
    while True:
        assert data[i] == 0xFF, f"no marker at {i}"
        marker = data[i + 1]
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        segments[marker] = data[i + 4 : i + 2 + length]
        i += 2 + length
        if marker == 0xDA:
            scan = data[i:-2]
            # inside entropy-coded data every 0xFF is stuffed with 0x00
            assert all(scan[j + 1] == 0 for j in range(len(scan) - 1) if scan[j] == 0xFF)
            return segments


def test_body_has_every_documented_field():
    params = Params(prompt="a cat", negative_prompt="dogs", width=768, height=512, seed=9, steps=25, cfg_scale=8.0, n=2)
    body = sagemaker.body(params)
    assert body["prompt"] == "a cat"
    assert body["width"] == 768
    assert body["height"] == 512
    assert body["num_images_per_prompt"] == 2
    assert body["num_inference_steps"] == 25
    assert body["guidance_scale"] == 8.0
    assert body["seed"] == 9
    assert body["negative_prompt"] == "dogs"
    assert set(body) == {
        "prompt", "width", "height", "num_images_per_prompt", "num_inference_steps", "guidance_scale", "seed",
        "negative_prompt",
    }  # fmt: skip


def test_defaults_match_the_seed_system():
    assert sagemaker.body(Params(prompt="a cat")) == {
        "prompt": "a cat",
        "width": 512,
        "height": 512,
        "num_images_per_prompt": 1,
        "num_inference_steps": 50,
        "guidance_scale": 7.5,
    }


def test_invoke_endpoint_over_the_wire_returns_real_jpegs(fake):
    # GIVEN an endpoint name and two images asked for
    params = Params(prompt="a lighthouse", width=640, height=384, n=2, seed=1)
    # WHEN the endpoint is invoked through botocore and the fake
    produced = sagemaker.generate("my-sd-endpoint", params)
    # THEN the wire carried the JSON body and the json;jpeg Accept header, and two JPEGs came back
    (request,) = fake.requests
    assert request["endpoint"] == "my-sd-endpoint"
    assert request["body"] == sagemaker.body(params)
    assert request["headers"]["Accept"] == "application/json;jpeg"
    assert request["headers"]["Content-Type"] == "application/json"
    assert len(produced) == 2 and produced[0] != produced[1]
    for image in produced:
        assert image.startswith(b"\xff\xd8\xff")
        sof = jpeg_segments(image)[0xC0]
        assert struct.unpack(">BHHB", sof[:6]) == (8, 384, 640, 3)


def test_fake_jpeg_is_well_formed_for_odd_sizes_and_extreme_colours():
    for rgb in ((0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 0, 255)):
        segments = jpeg_segments(jpeg(13, 7, rgb, "x"))
        assert struct.unpack(">HH", segments[0xC0][1:5]) == (7, 13)
        assert segments[0xFE] == b"x"


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, (429, "throttled")),
        ("ModelError", 424, (502, "provider_error")),
        ("ModelNotReadyException", 429, (502, "provider_error")),
        ("ServiceUnavailable", 503, (502, "provider_error")),
        ("AccessDeniedException", 403, (503, "provider_unavailable")),
        ("ValidationError", 400, (422, "provider_rejected")),
    ],
)
def test_endpoint_errors_map_to_clear_api_errors(code, status, expected):
    stubber = Stubber(invoke.runtime_client("sagemaker-runtime"))
    stubber.add_client_error("invoke_endpoint", code, "nope", status)
    with stubber, pytest.raises(ApiError) as err:
        sagemaker.generate("ep", Params(prompt="x"))
    assert (err.value.status, err.value.code) == expected


def test_throttling_through_the_wire_is_a_429(fake):
    with pytest.raises(ApiError) as err:
        sagemaker.generate("ep", Params(prompt="[throttle]"))
    assert err.value.status == 429


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (Params(prompt="x", width=500), "width"),
        (Params(prompt="x", height=2048), "height"),
        (Params(prompt="x", n=5), "n"),
        (Params(prompt="x", steps=151), "steps"),
        (Params(prompt="x", cfg_scale=21), "cfg_scale"),
        (Params(prompt="x" * 2001), "prompt"),
    ],
)
def test_values_outside_the_limits_are_a_400_naming_the_field(params, field):
    with pytest.raises(ApiError) as err:
        sagemaker.validate(catalog.get("sagemaker"), params)
    assert err.value.status == 400 and err.value.message.startswith(f"{field}:")


def test_endpoint_name_unset_means_off(monkeypatch):
    monkeypatch.delenv("SAGEMAKER_ENDPOINT_NAME", raising=False)
    assert sagemaker.endpoint_name() == ""
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "sd")
    assert sagemaker.endpoint_name() == "sd"


def test_a_call_slower_than_the_retry_room_still_succeeds(fake, monkeypatch):
    # GIVEN a read timeout that leaves 1 s of API Gateway's 29 s for a retry, and an endpoint taking 1.5 s
    monkeypatch.setenv("BEDROCK_READ_TIMEOUT", "28")
    from imagegen import aws

    aws.client.cache_clear()
    fake.latency = 1.5
    # WHEN it answers THEN its images are the answer: the deadline stops retries, never a success
    produced = sagemaker.generate("my-sd-endpoint", Params(prompt="a slow lighthouse"))
    assert produced and produced[0].startswith(b"\xff\xd8\xff")
