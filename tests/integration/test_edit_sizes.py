"""`size` on edits and variations, and photos larger than the model takes.

An edit makes the shape of its source: a `size` of the same shape is honoured by scaling the source
first (OpenAI's own variation example sends size="1024x1024" with a 1024x1024 PNG; the AI SDK always
sends one), another shape is a 400 that lists what the model can make; a 12 MP phone photo, over
SD3.5's 9,437,184 pixels, is scaled down with its proportions and the answer says to what.
"""

from __future__ import annotations

import base64
import io
import random

import openai
import pytest
import requests
from PIL import Image

from imagegen.images import sizing
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock, as a fixture)

pytestmark = pytest.mark.integration
SD35_MAX_PIXELS = 9_437_184  # AWS's SD3.5 Large page


def photo(width: int, height: int, fmt: str = "PNG") -> bytes:
    """A picture with some detail (not one flat colour), in `fmt`."""
    image = Image.new("RGB", (width, height), (120, 90, 60))
    rng = random.Random(width * height)
    for _ in range(200):
        x, y = rng.randrange(width), rng.randrange(height)
        image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + 40, y + 40))
    out = io.BytesIO()
    image.save(out, format=fmt, quality=90) if fmt == "JPEG" else image.save(out, format=fmt)
    return out.getvalue()


def sent_size(models) -> tuple[int, int]:  # noqa: F811
    """The size of the image the fake Bedrock was last sent."""
    return Image.open(io.BytesIO(base64.b64decode(models.requests[-1]["body"]["image"]))).size


def test_openais_own_variation_example_with_size_works(api, models):  # noqa: F811
    # OpenAI's documented example: client.images.create_variation(image=open("image.png", "rb"), n=2, size="1024x1024")
    client = openai.OpenAI(base_url=f"{api}/v1", api_key="unused", max_retries=0)
    response = client.images.create_variation(image=("image.png", photo(1024, 1024)), n=2, size="1024x1024")
    assert len(response.data) == 2 and response.data[0].url
    assert sent_size(models) == (1024, 1024)


def test_a_size_of_the_same_shape_scales_the_source_first(api, models):  # noqa: F811
    body = {"image": base64.b64encode(photo(1024, 768)).decode(), "prompt": "as ink", "size": "512x384"}
    response = requests.post(f"{api}/v1/images/edits", json={**body, "model": "sd3.5-large"}, timeout=60)
    assert response.status_code == 201, response.text
    assert sent_size(models) == (512, 384)
    assert response.json()["scaled"] == ["image: 1024x768 -> 512x384"]


def test_a_size_of_another_shape_is_a_400_listing_what_the_model_can_make(api, models):  # noqa: F811
    models.requests.clear()
    body = {"image": base64.b64encode(photo(1024, 768)).decode(), "prompt": "as ink", "size": "1024x1024"}
    response = requests.post(f"{api}/v1/images/edits", json={**body, "model": "sd3.5-large"}, timeout=60)
    error = response.json()["error"]
    assert response.status_code == 400 and error["param"] == "size"
    assert "1024x768" in error["message"] and "512x384" in error["message"]
    assert models.requests == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_12_mp_phone_photo_is_scaled_to_what_sd35_takes_and_the_answer_says_so(api, models, fmt):  # noqa: F811
    # GIVEN a 4032x3024 photo (12.2 MP, over SD3.5's 9,437,184 pixels)
    body = {"image": base64.b64encode(photo(4032, 3024, fmt)).decode(), "prompt": "as a watercolour"}
    # WHEN it is edited
    response = requests.post(f"{api}/v1/images/edits", json={**body, "model": "sd3.5-large"}, timeout=60)
    # THEN it was sent at the largest 4:3 size under the limit, and the answer says which
    assert response.status_code == 201, response.text
    width, height = sizing.within((4032, 3024), SD35_MAX_PIXELS)
    assert width * height <= SD35_MAX_PIXELS and abs(width / height - 4 / 3) < 0.01
    assert sent_size(models) == (width, height)
    assert response.json()["scaled"] == [f"image: 4032x3024 -> {width}x{height}"]
    job = requests.get(f"{api}/v1/jobs/{response.json()['id']}", timeout=10).json()
    assert job["scaled"] == response.json()["scaled"]


def test_a_masked_phone_photo_sends_its_mask_at_the_same_size(api, models):  # noqa: F811
    mask = Image.new("RGBA", (4032, 3024), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (1000, 1000, 2000, 2000))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    body = {"image": base64.b64encode(photo(4032, 3024)).decode(), "mask": base64.b64encode(out.getvalue()).decode()}
    response = requests.post(
        f"{api}/v1/images/edits", json={**body, "prompt": "a green sofa", "model": "stable-image-inpaint"}, timeout=60
    )
    assert response.status_code == 201, response.text
    sent = models.requests[-1]["body"]
    image = Image.open(io.BytesIO(base64.b64decode(sent["image"])))
    sent_mask = Image.open(io.BytesIO(base64.b64decode(sent["mask"])))
    assert image.size == sent_mask.size == sizing.within((4032, 3024), SD35_MAX_PIXELS)
    # white (repaint) where the mask was transparent, scaled with it
    assert sent_mask.convert("L").getpixel((image.size[0] * 1500 // 4032, image.size[1] * 1500 // 3024)) == 255
    assert sent_mask.convert("L").getpixel((10, 10)) == 0


@pytest.mark.parametrize("name", ["gpt-image-1", "dall-e-2"])
def test_several_images_under_an_openai_name_are_a_400_not_one_result_each(api, models, name):  # noqa: F811
    # OpenAI makes one picture from several references; no model here can, so this API does not bill
    # one edit per image under that name: a 400 that says why and what to do instead
    models.requests.clear()
    client = openai.OpenAI(base_url=f"{api}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.edit(model=name, image=[("a.png", photo(256, 256)), ("b.png", photo(256, 256))], prompt="x")
    assert refused.value.param == "image" and "one picture from several images" in refused.value.message
    assert models.requests == []
    # our own names keep one result per image
    both = client.images.edit(
        model="sd3.5-large", image=[("a.png", photo(256, 256)), ("b.png", photo(256, 256))], prompt="x"
    )
    assert len(both.data) == 2
