"""The official `openai` Python SDK as the client: our generations route speaks OpenAI's Images API.

A first slice of the OpenAI-compatible API: `size`, `n`, `response_format` (url | b64_json), `user`,
OpenAI's answer (`created`, `data`) next to ours, and errors with `type` and `param` so the SDK raises
its typed exceptions. Edits, variations and API keys are not there yet.
"""

from __future__ import annotations

import base64

import openai
import pytest
import requests

from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock/SageMaker, as a fixture)


@pytest.fixture
def client(api, models):  # noqa: F811
    return openai.OpenAI(base_url=f"{api}/v1", api_key="not-checked-locally", max_retries=0)


def test_generate_n2_with_size_returns_urls_to_real_images(client):
    result = client.images.generate(prompt="a red fox", model="amazon.nova-canvas-v1:0", n=2, size="512x512")
    assert result.created > 0 and len(result.data) == 2
    for image in result.data:
        data = requests.get(image.url, timeout=10).content
        assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20], "big") == 512  # IHDR width


def test_generate_b64_json_decodes_to_the_image(client):
    result = client.images.generate(
        prompt="a blue heron", model="amazon.nova-canvas-v1:0", size="1024x1024", response_format="b64_json"
    )
    (image,) = result.data
    data = base64.b64decode(image.b64_json)
    assert data.startswith(b"\x89PNG") and int.from_bytes(data[20:24], "big") == 1024  # IHDR height


def test_errors_arrive_as_the_sdks_typed_exceptions_with_our_code(client):
    with pytest.raises(openai.BadRequestError) as bad_size:
        client.images.generate(prompt="x", size="13x7 please")
    assert bad_size.value.code == "invalid_parameter" and bad_size.value.param == "size"
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(prompt="x", quality="hd")  # no model here has an hd mode: refused, not dropped
    assert refused.value.param == "quality"
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(prompt="x", model="amazon.nova-canvas-v1:0", n=9)
    assert too_many.value.body["type"] == "invalid_request_error" and too_many.value.param == "n"
    with pytest.raises(openai.NotFoundError):
        client.get("/jobs/" + "0" * 32, cast_to=object)
