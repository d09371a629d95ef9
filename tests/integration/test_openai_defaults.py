"""A default deployment, the official `openai` Python SDK used as its docs show: no `model=` picked for
us, no extra headers. Every call gets images (issue 19); OpenAI's own model names work; errors name
the OpenAI field at fault.

Bedrock is the offline fake (strict: it refuses what AWS refuses in that region); the deployment's
model lists are the catalog's defaults (GENERATE_MODELS and EDIT_MODELS unset).
"""

from __future__ import annotations

import base64
import io

import openai
import pytest
from PIL import Image

from imagegen import catalog
from imagegen.providers import bedrock
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock, as a fixture)
from tests.integration.test_openai_sdk import alpha_mask, fetch, key, keyed_api, picture  # noqa: F401

pytestmark = pytest.mark.integration

SD35 = "stability.sd3-5-large-v1:0"
INPAINT = "us.stability.stable-image-inpaint-v1:0"


@pytest.fixture
def client(keyed_api, key, models, monkeypatch):  # noqa: F811
    for name in ("GENERATE_MODELS", "EDIT_MODELS", "MODEL_ALIASES", "DEFAULT_RESPONSE_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    catalog.enabled.cache_clear()
    catalog.names.cache_clear()
    yield openai.OpenAI(base_url=f"{keyed_api}/v1", api_key=key, max_retries=0)
    catalog.enabled.cache_clear()
    catalog.names.cache_clear()


def decoded(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def test_generate_n2_1024_gets_two_images(client, models):  # noqa: F811
    result = client.images.generate(prompt="a lighthouse at dusk", n=2, size="1024x1024")
    assert len(result.data) == 2 and all(fetch(image.url).size == (1024, 1024) for image in result.data)
    assert models.requests[-1]["model"] == SD35
    echoed = result.model_dump()
    assert echoed["output_format"] == "png" and echoed["size"] == "1024x1024" and echoed["background"] == "opaque"


def test_edit_one_image_with_a_prompt(client, models):  # noqa: F811
    result = client.images.edit(image=("cat.png", picture(512, 512)), prompt="make it blue")
    assert fetch(result.data[0].url).size == (512, 512)
    assert models.requests[-1]["model"] == SD35 and models.requests[-1]["body"]["mode"] == "image-to-image"


def test_edit_two_images_n2_gets_four(client, models):  # noqa: F811
    before = len(models.requests)
    result = client.images.edit(
        image=[("a.png", picture(320, 320)), ("b.png", picture(256, 256))], prompt="watercolour", n=2
    )
    assert len(result.data) == 4 and len(models.requests) == before + 4
    assert [fetch(image.url).size for image in result.data] == [(320, 320)] * 2 + [(256, 256)] * 2


def test_edit_with_a_mask_goes_to_the_inpainting_model(client, models):  # noqa: F811
    result = client.images.edit(
        image=("room.png", picture(200, 100)),
        mask=("mask.png", alpha_mask(200, 100, (50, 20, 150, 80))),
        prompt="a green sofa",
    )
    assert fetch(result.data[0].url).size == (200, 100)
    assert models.requests[-1]["model"] == INPAINT


def test_variation_is_made_now_not_as_a_job(client, models):  # noqa: F811
    result = client.images.create_variation(image=("cat.png", picture(300, 300)))
    assert fetch(result.data[0].url).size == (300, 300)  # a 201 with the image, never an empty 202
    assert models.requests[-1]["model"] == SD35 and models.requests[-1]["body"]["prompt"] == bedrock.VARIATION_PROMPT


@pytest.mark.parametrize("name", ["dall-e-2", "dall-e-3"])
def test_dall_e_names_get_the_deployments_model_and_urls(client, models, name):  # noqa: F811
    result = client.images.generate(prompt="a red kite", model=name)
    assert result.data[0].url and result.data[0].b64_json is None
    assert models.requests[-1]["model"] == SD35


@pytest.mark.parametrize("name", ["gpt-image-1", "gpt-image-1.5", "gpt-image-2", "gpt-image-1-mini"])
def test_gpt_image_names_answer_b64_json_without_asking(client, models, name):  # noqa: F811
    result = client.images.generate(prompt="a blue heron", model=name)
    assert result.data[0].url is None and decoded(result.data[0].b64_json).size == (1024, 1024)
    edited = client.images.edit(image=("a.png", picture(128, 128)), prompt="in snow", model=name)
    assert decoded(edited.data[0].b64_json).size == (128, 128)


def test_a_deployment_can_point_an_openai_name_at_a_model(client, models, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MODEL_ALIASES", '{"dall-e-3": "stable-image-ultra"}')
    monkeypatch.setenv("GENERATE_MODELS", "sd3.5-large,stable-image-ultra")
    catalog.names.cache_clear()
    catalog.enabled.cache_clear()
    client.images.generate(prompt="a kite", model="dall-e-3")
    assert models.requests[-1]["model"] == "stability.stable-image-ultra-v1:1"


def test_errors_name_the_openai_field(client):
    with pytest.raises(openai.BadRequestError) as size:
        client.images.generate(prompt="x", size="1000x700")
    assert size.value.param == "size"
    with pytest.raises(openai.BadRequestError) as zero:
        client.images.generate(prompt="x", size="0x0")
    assert zero.value.param == "size"
    with pytest.raises(openai.BadRequestError) as model:
        client.images.generate(prompt="x", model="midjourney-v7")
    assert model.value.param == "model" and "sd3.5-large" in model.value.message
    with pytest.raises(openai.BadRequestError) as mask:
        client.images.edit(image=("a.png", picture(64, 64)), prompt="x", mask=("m.png", picture(64, 64)))
    assert mask.value.param == "mask"  # no alpha channel
    with pytest.raises(openai.BadRequestError) as image:
        client.images.edit(image=("a.txt", b"not an image"), prompt="x")
    assert image.value.param == "image"
    with pytest.raises(openai.BadRequestError) as n:
        client.images.generate(prompt="x", n=5)
    assert n.value.param == "n"


# -- OpenAI's JSON edit (EditImageBodyJsonParam), as curl or any HTTP client sends it ----------------


def data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def test_a_json_edit_with_image_references_and_a_mask(client, keyed_api, key, models):  # noqa: F811
    import requests

    headers = {"authorization": f"Bearer {key}"}
    body = {"images": [{"image_url": data_url(picture(200, 100))}], "prompt": "a green sofa"}
    body["mask"] = {"image_url": data_url(alpha_mask(200, 100, (50, 20, 150, 80)))}
    response = requests.post(f"{keyed_api}/v1/images/edits", json=body, headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    assert fetch(response.json()["data"][0]["url"]).size == (200, 100)
    assert models.requests[-1]["model"] == INPAINT
    two = {"images": [{"image_url": data_url(picture(64, 64))}, {"image_url": data_url(picture(96, 96))}]}
    response = requests.post(f"{keyed_api}/v1/images/edits", json={**two, "prompt": "x"}, headers=headers, timeout=30)
    assert response.status_code == 201 and len(response.json()["data"]) == 2


@pytest.mark.parametrize(
    ("images", "code"),
    [
        ([{"file_id": "file-abc123"}], "invalid_parameter"),  # no Files API here
        ([{"image_url": "https://10.0.0.1/a.png"}], "url_refused"),  # the SSRF-safe fetcher: private address
        ([{"image_url": "http://example.com/a.png"}], "url_refused"),  # https only
        ([], "invalid_parameter"),
        ([{"image_url": "data:image/png;base64,bm90IGFuIGltYWdl"}], "not_an_image"),
    ],
)
def test_a_json_edit_reference_we_cannot_use_is_a_400_naming_images(client, keyed_api, key, images, code):  # noqa: F811
    import requests

    response = requests.post(
        f"{keyed_api}/v1/images/edits",
        json={"images": images, "prompt": "x"},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (code, "images"), error


# -- output_format, output_compression and the fields no model here varies ---------------------------


def test_output_format_jpeg_where_the_model_makes_it(client, models):  # noqa: F811
    result = client.images.generate(prompt="a red kite", output_format="jpeg", response_format="b64_json")
    assert base64.b64decode(result.data[0].b64_json)[:3] == b"\xff\xd8\xff"
    assert result.model_dump()["output_format"] == "jpeg"
    assert models.requests[-1]["body"]["output_format"] == "jpeg"
    edited = client.images.edit(image=("a.png", picture(128, 128)), prompt="x", output_format="jpeg")
    assert fetch(edited.data[0].url).format == "JPEG"


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_output_compression_is_honoured_where_the_model_has_no_setting_by_encoding_again(client, models, fmt):  # noqa: F811
    # GIVEN SD3.5 on Bedrock, which makes jpeg and webp but has no quality setting (AWS's page)
    def made(**compression) -> bytes:
        result = client.images.generate(
            prompt="a red kite", output_format=fmt, response_format="b64_json", extra_body={"seed": 7}, **compression
        )
        assert "output_compression" not in models.requests[-1]["body"]  # not sent: the page has no such field
        return base64.b64decode(result.data[0].b64_json)

    # WHEN the same picture (same seed) comes as made, at 10 and at 95
    plain, low, high = made(), made(output_compression=10), made(output_compression=95)
    # THEN the compressed ones were encoded again, in the format asked for, at the quality asked for
    images = [Image.open(io.BytesIO(data)) for data in (plain, low, high)]
    assert {image.format for image in images} == {fmt.upper()} and low != plain and high != plain
    if fmt == "jpeg":  # a JPEG's quantization tables say its quality: coarser at 10 than at 95
        assert sum(images[1].quantization[0]) > sum(images[2].quantization[0])


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (dict(output_format="gif"), "output_format"),  # no model here makes gif (both defaults make webp now)
        (dict(output_compression=50), "output_compression"),  # png has no compression
        (dict(background="transparent"), "background"),
        (dict(style="vivid"), "style"),
    ],
)
def test_what_the_model_cannot_make_is_a_400_naming_it(client, call, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(prompt="x", **call)
    assert refused.value.param == param


@pytest.mark.parametrize(
    ("call", "param"),
    [
        (dict(quality="high"), "quality"),
        (dict(input_fidelity="high"), "input_fidelity"),
        (dict(background="transparent"), "background"),
    ],
)
def test_edit_fields_no_model_here_varies_are_refused_by_name(client, call, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(image=("a.png", picture(64, 64)), prompt="x", **call)
    assert refused.value.param == param
    # their defaults are taken
    client.images.edit(image=("a.png", picture(64, 64)), prompt="x", quality="auto", background="auto")


# -- cost per image, from the catalog's list prices ------------------------------------------------


def test_a_job_carries_what_its_images_cost_at_list_price(client, keyed_api, key, models):  # noqa: F811
    import requests

    result = client.images.generate(prompt="a red kite", n=2)
    price = catalog.get("sd3.5-large").price
    answer = result.model_dump()
    assert answer["cost_usd"] == round(2 * price["usd"], 6) and answer["price_date"] == price["date"]
    job = requests.get(
        f"{keyed_api}/v1/jobs/{answer['id']}", headers={"authorization": f"Bearer {key}"}, timeout=10
    ).json()
    assert (job["cost_usd"], job["price_date"]) == (answer["cost_usd"], price["date"])


def test_an_async_job_is_priced_when_its_images_are_stored(client, keyed_api, key, fake_replicate):  # noqa: F811
    import requests

    response = requests.post(
        f"{keyed_api}/v1/images/edits",
        files=[("image", ("a.png", picture(64, 64), "image/png"))],  # no prompt: cartoonify, on Replicate
        headers={"authorization": f"Bearer {key}", "prefer": "wait=10"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    (job_id,) = [job["id"] for job in response.json()["jobs"]]
    job = requests.get(f"{keyed_api}/v1/jobs/{job_id}", headers={"authorization": f"Bearer {key}"}, timeout=10)
    price = catalog.get("cartoonify").price
    assert (job.json()["cost_usd"], job.json()["price_date"]) == (price["usd"], price["date"])
