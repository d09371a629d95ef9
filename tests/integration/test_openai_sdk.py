"""The official `openai` Python SDK as the client, with an API key, against the local HTTP API server.

The server runs the same Lambda authorizer as the deployment (auth="api_key"); Bedrock and Replicate
are the offline fakes. Generations, edits (one image, two as `image[]`, with a mask), variations,
an async edit with `Prefer: wait`, and the errors as the SDK's typed exceptions.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from pathlib import Path

import boto3
import openai
import pytest
import requests
from PIL import Image

from imagegen import apikeys, catalog, settings
from imagegen.providers import bedrock
from localdev.server import LocalApi
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock/SageMaker, as a fixture)

SD35 = "stability.sd3-5-large-v1:0"
INPAINT = "us.stability.stable-image-inpaint-v1:0"
EDIT_ENV = {
    "EDIT_MODELS": "cartoonify,sd3.5-large,stable-image-inpaint,flux-kontext-pro,flux-fill-pro",
    "PREFER_WAIT_MAX_SECONDS": "15",
}


@pytest.fixture(scope="module")
def keyed_api(bucket):
    """A second local server whose authorized routes need an API key, as deployed."""
    server = LocalApi(("127.0.0.1", 0), auth="api_key")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.url
    server.shutdown()
    server.server_close()


@pytest.fixture
def edit_models(monkeypatch, fake_replicate):
    for name, value in EDIT_ENV.items():
        monkeypatch.setenv(name, value)
    catalog.enabled.cache_clear()
    yield fake_replicate
    catalog.enabled.cache_clear()


@pytest.fixture(scope="module")
def key(bucket) -> str:
    return apikeys.mint("sdk tests")[0]


@pytest.fixture
def client(keyed_api, key, models):  # noqa: F811
    return openai.OpenAI(base_url=f"{keyed_api}/v1", api_key=key, max_retries=0)


def picture(width: int, height: int, colour=(200, 30, 30), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format=fmt)
    return out.getvalue()


def alpha_mask(width: int, height: int, hole: tuple[int, int, int, int]) -> bytes:
    """OpenAI's mask: opaque everywhere but `hole` (left, top, right, bottom), which is transparent."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), hole)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def fetch(url: str) -> Image.Image:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


# -- generations ----------------------------------------------------------------------------------


def test_generate_n2_with_size_returns_urls_to_two_real_images(client, models):  # noqa: F811
    # SD3.5 Large makes one image per call: two calls at once, each its own image
    before = len(models.requests)
    result = client.images.generate(prompt="a red fox", n=2, size="1344x768")
    assert result.created > 0 and len(result.data) == 2
    assert len(models.requests) == before + 2
    pictures = [requests.get(image.url, timeout=10).content for image in result.data]
    assert len(set(pictures)) == 2
    assert all(Image.open(io.BytesIO(p)).size == (1344, 768) for p in pictures)


def test_generate_b64_json_decodes_to_the_image(client):
    result = client.images.generate(prompt="a blue heron", size="1024x1024", response_format="b64_json")
    (image,) = result.data
    assert Image.open(io.BytesIO(base64.b64decode(image.b64_json))).size == (1024, 1024)


def test_a_catalog_name_or_alias_names_the_model(client, models):  # noqa: F811
    result = client.images.generate(prompt="a lighthouse", model="stable-image-ultra", size="1344x768")
    assert fetch(result.data[0].url).size == (1344, 768)
    assert models.requests[-1]["model"] == "stability.stable-image-ultra-v1:1"
    client.images.generate(prompt="a lighthouse", model="stable-diffusion-3.5-large")
    assert models.requests[-1]["model"] == SD35


# -- edits and variations on Bedrock (sync: 201 with the images) ----------------------------------


def test_edit_one_image_on_bedrock(client, edit_models, models):  # noqa: F811
    result = client.images.edit(image=("cat.png", picture(640, 480)), prompt="make it blue", model="sd3.5-large")
    (image,) = result.data
    assert fetch(image.url).size == (640, 480)  # image-to-image keeps the input's size
    sent = models.requests[-1]["body"]
    assert sent["mode"] == "image-to-image" and sent["prompt"] == "make it blue" and 0 < sent["strength"] <= 1
    assert base64.b64decode(sent["image"]) == picture(640, 480)


def test_edit_two_images_sent_as_image_list(client, edit_models, models):  # noqa: F811
    before = len(models.requests)
    result = client.images.edit(
        image=[("a.png", picture(320, 320)), ("b.jpg", picture(256, 256, fmt="JPEG"))],
        prompt="watercolour",
        model=SD35,
        response_format="b64_json",
    )
    assert len(result.data) == 2 and len(models.requests) == before + 2
    sizes = [Image.open(io.BytesIO(base64.b64decode(d.b64_json))).size for d in result.data]
    assert sizes[0] == (320, 320)  # in request order (the fake reads PNG sizes; a JPEG source gives 1024)


def test_edit_with_a_mask_sends_bedrock_a_white_means_edit_mask(client, edit_models, models):  # noqa: F811
    result = client.images.edit(
        image=("room.png", picture(200, 100)),
        mask=("mask.png", alpha_mask(200, 100, (50, 20, 150, 80))),
        prompt="a green sofa",
        model="stable-image-inpaint",
    )
    assert fetch(result.data[0].url).size == (200, 100)
    sent = models.requests[-1]
    assert sent["model"] == INPAINT
    mask = Image.open(io.BytesIO(base64.b64decode(sent["body"]["mask"])))
    assert mask.mode == "L" and mask.size == (200, 100)
    assert mask.getpixel((100, 50)) == 255 and mask.getpixel((10, 10)) == 0  # white = the transparent hole
    assert mask.getbbox() == (50, 20, 150, 80)


def test_variation_on_bedrock(client, edit_models, models):  # noqa: F811
    result = client.images.create_variation(image=("cat.png", picture(300, 300)), model="sd3.5-large")
    assert fetch(result.data[0].url).size == (300, 300)
    sent = models.requests[-1]["body"]
    assert sent["mode"] == "image-to-image" and sent["prompt"] == bedrock.VARIATION_PROMPT and sent["strength"] == 0.5


# -- edits on Replicate (async: 202 with jobs, or 201 when the client waits) ----------------------


def test_async_edit_with_prefer_wait_answers_the_finished_images(client, edit_models, keyed_api, key):
    raw = client.images.with_raw_response.edit(
        image=("cat.png", picture(128, 128)),
        prompt="as a bronze statue",
        model="flux-kontext-pro",
        extra_headers={"Prefer": "wait=10"},
    )
    assert raw.status_code == 201 and raw.headers["preference-applied"] == "wait=10"
    result = raw.parse()
    assert len(result.data) == 1 and fetch(result.data[0].url).format == "PNG"
    sent = edit_models.requests[-1]["input"]
    assert sent["prompt"] == "as a bronze statue" and sent["input_image"].startswith("http")


def test_an_async_model_without_any_prefer_gives_the_sdk_its_image(client, edit_models):
    # An SDK that knows nothing of jobs: the answer is waited for, so data[0] is the image
    result = client.images.edit(image=("cat.png", picture(96, 96)), prompt="sketch", model="flux-kontext-pro")
    assert result.data[0].url and requests.get(result.data[0].url, timeout=10).content[:8] == b"\x89PNG\r\n\x1a\n"


def test_respond_async_answers_202_with_the_job_at_once(client, edit_models, keyed_api, key):
    raw = client.images.with_raw_response.edit(
        image=("cat.png", picture(96, 96)), prompt="sketch", model="flux-kontext-pro",
        extra_headers={"Prefer": "respond-async"},
    )  # fmt: skip
    assert raw.status_code == 202 and raw.headers["preference-applied"] == "respond-async"
    assert raw.parse().data == []
    (job,) = raw.http_response.json()["jobs"]
    assert job["status"] in ("queued", "starting", "processing", "succeeded")


def test_async_masked_edit_hands_replicate_the_converted_mask(client, edit_models):
    result = client.images.edit(
        image=("room.png", picture(64, 64)),
        mask=("mask.png", alpha_mask(64, 64, (0, 0, 32, 64))),
        prompt="a window",
        model="black-forest-labs/flux-fill-pro",
        extra_headers={"Prefer": "wait"},
    )
    assert len(result.data) == 1
    mask_url = edit_models.requests[-1]["input"]["mask"]
    assert fetch(mask_url).getbbox() == (0, 0, 32, 64)


# -- what a model cannot do, and auth: typed exceptions with our code ----------------------------


def test_errors_arrive_as_the_sdks_typed_exceptions_with_our_code(client, edit_models):
    with pytest.raises(openai.BadRequestError) as bad_size:
        client.images.generate(prompt="x", size="13x7 please")
    assert bad_size.value.code == "invalid_parameter" and bad_size.value.param == "size"
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(prompt="x", model="sd3.5-large", quality="hd")  # no hd mode: refused, not dropped
    assert refused.value.param == "quality"
    with pytest.raises(openai.BadRequestError) as no_prompt:
        client.images.edit(image=("a.png", picture(64, 64)), prompt="x", model="cartoonify")  # takes no prompt
    assert no_prompt.value.param == "prompt"
    with pytest.raises(openai.BadRequestError) as no_mask:
        client.images.edit(image=("a.png", picture(64, 64)), prompt="x", model="sd3.5-large",
                           mask=("m.png", alpha_mask(64, 64, (0, 0, 8, 8))))  # fmt: skip
    assert no_mask.value.param == "mask"
    with pytest.raises(openai.BadRequestError) as wrong_size:
        client.images.edit(image=("a.png", picture(64, 64)), prompt="x", model="stable-image-inpaint",
                           mask=("m.png", alpha_mask(32, 32, (0, 0, 8, 8))))  # fmt: skip
    assert wrong_size.value.code == "invalid_mask"
    with pytest.raises(openai.NotFoundError):
        client.get("/jobs/" + "0" * 32, cast_to=object)


def test_without_a_key_401_with_a_wrong_or_revoked_or_expired_one_403(keyed_api, key, models, fake_replicate):  # noqa: F811
    # (fake_replicate: the webhook's secret is configured, as deployed, so its own check answers below)
    def call(api_key: str | None) -> int:
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        body = {"prompt": "x", "size": "1024x1024"}
        return requests.post(f"{keyed_api}/v1/images/generations", json=body, headers=headers, timeout=30).status_code

    revoked, record = apikeys.mint("to revoke")
    apikeys.revoke(record["id"])
    expired, record = apikeys.mint("to expire", expires_in_days=1)
    record["expires_at"] = "2020-01-01T00:00:00+00:00"
    boto3.client("s3").put_object(
        Bucket=settings.bucket_name(), Key=apikeys.record_key(record["id"]), Body=json.dumps(record).encode()
    )
    assert call(None) == 401
    assert call(key[:-1] + ("A" if key[-1] != "A" else "B")) == 403  # right id, wrong secret
    assert call("igk_0123456789abcdef_" + "x" * 43) == 403
    assert call(revoked) == 403 and call(expired) == 403
    assert call(key) == 201
    with pytest.raises(openai.AuthenticationError):  # the SDK with its Authorization header left out
        sdk = openai.OpenAI(base_url=f"{keyed_api}/v1", api_key="unused", max_retries=0)
        sdk.images.generate(prompt="x", extra_headers={"Authorization": openai.omit})
    with pytest.raises(openai.PermissionDeniedError):
        openai.OpenAI(base_url=f"{keyed_api}/v1", api_key="sk-wrong", max_retries=0).images.generate(prompt="x")
    # The webhook route keeps its own signature check only: no key asked, a bad signature is its own 401.
    hook = requests.post(f"{keyed_api}/v1/webhooks/replicate", json={}, timeout=10)
    assert hook.status_code == 401 and hook.json()["error"]["code"]


def test_a_job_is_seen_and_canceled_only_with_the_key_that_made_it(keyed_api, key, fake_replicate):
    other = apikeys.mint("someone else")[0]
    made = requests.post(
        f"{keyed_api}/v1/images/edits",
        json={"image_url": "https://example.com/cat.png", "input": {"fake": "hang"}},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert made.status_code == 202, made.text
    job = made.json()["jobs"][0]["id"]
    mine = requests.get(f"{keyed_api}/v1/jobs/{job}", headers={"authorization": f"Bearer {key}"}, timeout=10)
    theirs = requests.get(f"{keyed_api}/v1/jobs/{job}", headers={"authorization": f"Bearer {other}"}, timeout=10)
    assert mine.status_code == 200 and theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "job_not_found"
    cancel = requests.post(
        f"{keyed_api}/v1/jobs/{job}/cancel", headers={"authorization": f"Bearer {other}"}, timeout=10
    )
    assert cancel.status_code == 404
    record = json.loads(
        boto3.client("s3").get_object(Bucket=settings.bucket_name(), Key=f"jobs/{job}.json")["Body"].read()
    )
    assert record["owner"] == apikeys.KEY_PATTERN.fullmatch(key).group(1)


def test_the_readme_example_runs_as_written(keyed_api, key, edit_models, models, tmp_path, monkeypatch):  # noqa: F811
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "photo.png").write_bytes(picture(256, 256))
    (tmp_path / "mask.png").write_bytes(alpha_mask(256, 256, (64, 64, 192, 192)))
    monkeypatch.chdir(tmp_path)
    code = example.replace("http://127.0.0.1:8080/v1", f"{keyed_api}/v1").replace('"igk_..."', repr(key))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert fetch(scope["edited"].data[0].url).size == (256, 256)
    assert scope["masked"].data and scope["variation"].data and scope["waited"].data


def test_the_sdk_lists_and_retrieves_the_deployments_models(client):
    listed = list(client.models.list())
    ids = [model.id for model in listed]
    assert "sd3.5-large" in ids and all(model.object == "model" and model.owned_by for model in listed)
    assert client.models.retrieve("stable-diffusion-3.5-large").id == "sd3.5-large"  # an alias
    # OpenAI's names, which generate and edit take, are models here too, saying which model they stand for
    openai_name = client.models.retrieve("gpt-image-1")
    assert openai_name.id == "gpt-image-1" and openai_name.model_extra["stands_for"]["generate"] in ids
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"


def test_todays_fields_through_the_sdk(client):
    result = client.images.generate(prompt="a fox", extra_body={"safety_identifier": "u-42", "moderation": "auto"})
    assert len(result.data) == 1
    with pytest.raises(openai.BadRequestError) as streamed:
        client.images.generate(prompt="a fox", extra_body={"stream": True})
    assert streamed.value.param == "stream"
