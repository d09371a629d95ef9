"""Units of the OpenAI-compatible API: API keys, Prefer: wait, masks, edit model choice, aliases."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from imagegen import apikeys, catalog, settings
from imagegen.api import prefer
from imagegen.api.events import Request
from imagegen.errors import ApiError, ConfigError
from imagegen.images import masks
from imagegen.orders import Params
from imagegen.providers import bedrock
from imagegen.routes import edit as editmodels


def request(**headers: str) -> Request:
    return Request("POST", "/v1/images/edits", "POST /v1/images/edits", headers, {}, {}, b"")


# -- API keys -------------------------------------------------------------------------------------


def test_a_minted_key_verifies_and_only_its_hash_is_stored(aws):
    key, record = apikeys.mint("alice", expires_in_days=30)
    assert apikeys.KEY_PATTERN.fullmatch(key) and key not in str(apikeys.read(record["id"]))
    assert apikeys.read(record["id"])["sha256"] == apikeys.digest(key)
    verdict = apikeys.verify(f"Bearer {key}")
    assert verdict.allowed and verdict.key_id == record["id"] and verdict.name == "alice"
    assert apikeys.verify(f"bearer   {key}").allowed  # the scheme is case-insensitive


@pytest.mark.parametrize(
    "header, reason",
    [
        (None, "missing_bearer_token"),
        ("Basic dXNlcjpwYXNz", "missing_bearer_token"),
        ("Bearer ", "missing_bearer_token"),
        ("Bearer sk-something-else", "malformed_key"),
        ("Bearer igk_0123456789abcdef_" + "a" * 43, "unknown_key"),
    ],
)
def test_what_is_not_a_valid_key_is_refused_with_its_reason(aws, header, reason):
    assert apikeys.verify(header) == apikeys.Verdict(False, reason)


def test_a_wrong_secret_for_a_real_id_a_revoked_and_an_expired_key_are_refused(aws):
    key, record = apikeys.mint("bob")
    assert apikeys.verify("Bearer " + key[:-3] + "xyz").reason == "unknown_key"
    apikeys.revoke(record["id"])
    assert apikeys.verify(f"Bearer {key}").reason == "revoked_key"
    assert apikeys.revoke(record["id"])["revoked_at"]  # idempotent
    with pytest.raises(KeyError):
        apikeys.revoke("0" * 16)
    listed = {r["id"]: r for r in apikeys.list_keys()}
    assert "sha256" not in listed[record["id"]] and listed[record["id"]]["revoked_at"]


@pytest.mark.parametrize("expires_at", ["2030-01-01T00:00:00", "tomorrow", 12])
def test_a_record_we_did_not_write_is_a_no_never_a_500(aws, expires_at):
    # GIVEN a key whose stored record was edited by hand: an expiry without a timezone, or no date at all
    key, record = apikeys.mint("carol")
    record["expires_at"] = expires_at
    apikeys.aws.client("s3").put_object(
        Bucket=settings.bucket_name(), Key=apikeys.record_key(record["id"]), Body=json.dumps(record).encode()
    )
    # WHEN the authorizer checks the key THEN it says no, with the reason, instead of raising
    assert apikeys.verify(f"Bearer {key}") == apikeys.Verdict(False, "bad_record", record["id"])
    # AND such a record is never written by mint
    with pytest.raises(ValueError, match="timezone"):
        apikeys.check_record({**record, "expires_at": "2030-01-01T00:00:00"})


def test_names_are_required_and_short(aws):
    for name in ("", "   ", "x" * 101):
        with pytest.raises(ValueError):
            apikeys.mint(name)


# -- Prefer: wait ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, seconds",
    [
        ("wait", 20),
        ("wait=5", 5),
        ("respond-async, wait=7", 7),
        ('wait="3"', 3),
        ("WAIT=60", 20),  # capped
        ("wait=soon", None),  # not a preference we can honour: ignored (RFC 7240)
        ("return=minimal", None),
        ("", None),
    ],
)
def test_prefer_wait_is_read_and_capped(monkeypatch, header, seconds):
    monkeypatch.delenv("PREFER_WAIT_MAX_SECONDS", raising=False)
    assert prefer.requested(request(prefer=header)) == seconds


def test_the_wait_cap_is_configurable(monkeypatch):
    monkeypatch.setenv("PREFER_WAIT_MAX_SECONDS", "4")
    assert prefer.requested(request(prefer="wait=10")) == 4


# -- masks ----------------------------------------------------------------------------------------


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def test_transparent_pixels_become_white_and_the_rest_black():
    mask = Image.new("RGBA", (8, 4), (255, 255, 255, 255))
    mask.putpixel((1, 2), (0, 0, 0, 0))
    mask.putpixel((5, 1), (9, 9, 9, 10))  # partly transparent: kept, as OpenAI's "fully transparent" rule
    converted = Image.open(io.BytesIO(masks.white_means_edit(png(mask), (8, 4))))
    assert converted.mode == "L"
    assert [(x, y) for y in range(4) for x in range(8) if converted.getpixel((x, y)) == 255] == [(1, 2)]


@pytest.mark.parametrize(
    "mask, message",
    [
        (png(Image.new("RGB", (8, 4))), "no alpha channel"),
        (png(Image.new("RGBA", (8, 4), (0, 0, 0, 255))), "no fully transparent pixel"),
        (png(Image.new("RGBA", (4, 4), (0, 0, 0, 0))), "is 4x4 but the image is 8x4"),
        (png(Image.new("RGB", (8, 4)), "JPEG"), "must be a PNG"),
        (b"\x89PNG\r\n\x1a\n broken", "could not be read"),
    ],
)
def test_a_mask_that_cannot_be_used_is_a_400_that_says_why(mask, message):
    with pytest.raises(ApiError) as refused:
        masks.white_means_edit(mask, (8, 4))
    assert refused.value.status == 400 and message in refused.value.message


# -- which model edits, and what it can do --------------------------------------------------------


@pytest.fixture
def edit_env(monkeypatch):
    monkeypatch.setenv("EDIT_MODELS", "cartoonify,sd3.5-large,stable-image-inpaint,flux-kontext-pro")


def test_models_are_chosen_by_name_alias_or_id_with_their_provider(edit_env):
    assert editmodels.choose("sd3.5-large", "edit") == catalog.get("sd3.5-large")
    assert editmodels.choose("stability.sd3-5-large-v1:0", "edit").name == "sd3.5-large"
    assert editmodels.choose("flux-kontext-pro", "edit").provider == "replicate"
    # no model named: the first enabled one that fits the request
    assert editmodels.choose(None, "edit").ref.startswith("catacolabs/cartoonify:")  # no prompt
    assert editmodels.choose(None, "edit", "a green sofa").name == "sd3.5-large"  # a prompt
    assert editmodels.choose(None, "edit", "a green sofa", masked=True).name == "stable-image-inpaint"
    assert editmodels.choose(None, "variation").name == "sd3.5-large"  # sync, though cartoonify is first
    # OpenAI's own names ask for the same default; a name nobody serves is a 400 naming model
    assert editmodels.choose("dall-e-2", "edit", "a green sofa").name == "sd3.5-large"
    assert editmodels.choose("gpt-image-1.5", "edit", "x", masked=True).name == "stable-image-inpaint"
    with pytest.raises(ApiError) as refused:
        editmodels.choose("midjourney-v7", "edit")
    assert refused.value.code == "model_not_allowed" and "sd3.5-large" in refused.value.message
    assert refused.value.param == "model"


def test_a_catalog_model_the_deployment_did_not_enable_is_refused(edit_env):
    with pytest.raises(ApiError) as refused:
        editmodels.choose("flux-fill-pro", "edit")
    assert refused.value.code == "model_not_allowed"


def test_variations_go_to_a_model_that_can_make_them(edit_env, monkeypatch):
    with pytest.raises(ApiError) as refused:
        editmodels.choose("flux-kontext-pro", "variation")  # it needs a prompt
    assert refused.value.param == "model"
    with pytest.raises(ApiError):
        editmodels.choose("stable-image-inpaint", "variation")
    monkeypatch.setenv("EDIT_MODELS", "flux-kontext-pro,sd3.5-large")
    catalog.enabled.cache_clear()
    assert editmodels.choose(None, "variation").name == "sd3.5-large"


def test_an_alias_can_be_configured(monkeypatch):
    monkeypatch.setenv("MODEL_ALIASES", '{"house-style": "sd3.5-large"}')
    assert catalog.find("house-style").name == "sd3.5-large"
    assert catalog.find("sd3.5-large").id == "stability.sd3-5-large-v1:0"  # the catalog's names stay
    assert catalog.find(7) is None


def test_an_alias_of_a_model_not_in_the_catalog_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("MODEL_ALIASES", '{"house-style": "us.stability.sd3-5-large-v1:0"}')
    with pytest.raises(ConfigError, match="not in the model catalog"):
        catalog.find("house-style")


def test_bedrock_adapters_state_their_tasks_and_refuse_the_rest():
    image = png(Image.new("RGB", (64, 64)))
    sd35, inpaint, ultra = (catalog.get(name) for name in ("sd3.5-large", "stable-image-inpaint", "stable-image-ultra"))
    body = bedrock.adapter_for(sd35).body(sd35, Params(prompt="", task="variation", image=image))
    assert body["mode"] == "image-to-image" and body["strength"] == 0.5 and "aspect_ratio" not in body
    cases = [
        (ultra, Params(prompt="x", task="edit", image=image), "model"),
        (sd35, Params(prompt="x", task="edit", image=image, width=512, height=512), "size"),
        (sd35, Params(prompt="x", task="edit", image=image, mask=image), "mask"),
        (sd35, Params(prompt="x", task="edit", image=image, strength=1.5), "strength"),
        (sd35, Params(prompt="x", quality="hd"), "quality"),
        (inpaint, Params(prompt="x", task="edit", image=image), "mask"),
        (inpaint, Params(prompt=" ", task="edit", image=image, mask=image), "prompt"),
        (sd35, Params(prompt="x", task="edit", image=b"GIF89a" + bytes(20)), "image"),
    ]
    for model, params, field in cases:
        with pytest.raises(ApiError) as refused:
            bedrock.validate(model, params)
        assert refused.value.param == field, (model, params.task, refused.value.message)
