"""The tools people put in front of OpenAI, with their documented image calls and OpenAI's model names,
against a default deployment: LangChain's DallEAPIWrapper and LiteLLM (generation, edit, variation,
which LiteLLM sends with no `model`). Nothing but the base URL and the key changed.
"""

from __future__ import annotations

import base64
import io
import os

import pytest
from PIL import Image

from imagegen import catalog
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock, as a fixture)
from tests.integration.test_openai_sdk import fetch, key, keyed_api, picture  # noqa: F401

pytestmark = pytest.mark.integration

SD35 = "stability.sd3-5-large-v1:0"
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # offline: its bundled price list, no fetch


@pytest.fixture
def base_url(keyed_api, models, monkeypatch):  # noqa: F811
    for name in ("GENERATE_MODELS", "EDIT_MODELS", "MODEL_ALIASES", "DEFAULT_RESPONSE_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    catalog.enabled.cache_clear()
    catalog.names.cache_clear()
    yield f"{keyed_api}/v1"
    catalog.enabled.cache_clear()


def test_langchains_dalle_wrapper_gets_an_image_url(base_url, key, models):  # noqa: F811
    from langchain_community.utilities.dalle_image_generator import DallEAPIWrapper

    url = DallEAPIWrapper(api_key=key, base_url=base_url).run("a lighthouse at dusk")  # model dall-e-2
    assert fetch(url).size == (1024, 1024)
    assert models.requests[-1]["model"] == SD35
    two = DallEAPIWrapper(api_key=key, base_url=base_url, model="dall-e-3", n=2, separator=" ").run("a kite")
    assert len(two.split(" ")) == 2


def test_litellm_generates_with_openais_model_names(base_url, key, models):  # noqa: F811
    import litellm

    result = litellm.image_generation(prompt="a red fox", model="openai/dall-e-3", api_base=base_url, api_key=key)
    assert fetch(result.data[0].url).size == (1024, 1024)
    b64 = litellm.image_generation(prompt="a heron", model="openai/gpt-image-1", api_base=base_url, api_key=key)
    assert Image.open(io.BytesIO(base64.b64decode(b64.data[0].b64_json))).size == (1024, 1024)


def test_litellm_edits_and_makes_variations_without_a_model(base_url, key, models, tmp_path):  # noqa: F811
    import litellm

    photo = tmp_path / "photo.png"
    photo.write_bytes(picture(256, 256))
    with open(photo, "rb") as image:
        edited = litellm.image_edit(
            image=image, prompt="make it blue", model="openai/gpt-image-1", api_base=base_url, api_key=key
        )
    assert Image.open(io.BytesIO(base64.b64decode(edited.data[0].b64_json))).size == (256, 256)
    with open(photo, "rb") as image:
        varied = litellm.image_variation(image=image, api_base=base_url, api_key=key, custom_llm_provider="openai")
    assert varied.data and fetch(varied.data[0].url).size == (256, 256)  # made now: never an empty 202
    assert models.requests[-1]["model"] == SD35
