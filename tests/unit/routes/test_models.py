"""GET /v1/models and /v1/models/{id}: the deployment's catalog models in OpenAI's list format."""

from __future__ import annotations

import json

import openai
import pytest

from imagegen import catalog
from localdev.server import load_handler
from tests.conftest import FakeContext, get_event


@pytest.fixture
def models_route():
    return load_handler("models")


def get(handler, model_id: str | None = None) -> tuple[int, dict]:
    if model_id:
        event = get_event("GET /v1/models/{id}", f"/v1/models/{model_id}", pathParameters={"id": model_id})
    else:
        event = get_event("GET /v1/models", "/v1/models")
    response = handler(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_the_default_deployment_lists_its_models_with_the_routes_they_serve(models_route, monkeypatch):
    for name in ("GENERATE_MODELS", "EDIT_MODELS", "SAGEMAKER_ENDPOINT_NAME"):
        monkeypatch.delenv(name, raising=False)
    status, body = get(models_route)
    assert status == 200 and body["object"] == "list"
    by_id = {item["id"]: item for item in body["data"]}
    defaults = catalog.data()["defaults"]
    assert list(by_id) == list(dict.fromkeys(defaults["generate"] + defaults["edit"]))
    # the official SDK's own model of an item takes each of ours
    for item in body["data"]:
        assert openai.types.Model(**item).id == item["id"]
    sd35 = by_id["sd3.5-large"]
    # the default for generations, edits with a prompt and variations (made now, not as a job)
    assert sd35["tasks"] == ["generate", "edit", "variation"]
    assert sd35["default_for"] == ["generate", "edit", "variation"]
    assert sd35["owned_by"] == "stability" and sd35["price_per_image_usd"] == catalog.get("sd3.5-large").price["usd"]
    assert "1344x768" in sd35["sizes"] and "16:9" in sd35["aspect_ratios"]
    assert by_id["cartoonify"]["default_for"] == []  # async: used by name, or for an edit with no prompt
    assert by_id["cartoonify"]["owned_by"] == "catacolabs"
    assert by_id["stable-image-inpaint"]["routes"] == ["/v1/images/edits"]


def test_a_deployments_own_choice_and_its_sagemaker_endpoint(models_route, monkeypatch):
    monkeypatch.setenv("GENERATE_MODELS", "stable-image-ultra")
    monkeypatch.setenv("EDIT_MODELS", "flux-kontext-pro")
    monkeypatch.setenv("SAGEMAKER_ENDPOINT_NAME", "my-endpoint")
    status, body = get(models_route)
    assert status == 200
    assert [(item["id"], item["tasks"]) for item in body["data"]] == [
        ("stable-image-ultra", ["generate"]),
        ("sagemaker", ["generate"]),
        ("flux-kontext-pro", ["edit"]),
    ]


def test_one_model_by_name_or_alias_and_a_model_not_served_is_a_404(models_route, monkeypatch):
    for name in ("GENERATE_MODELS", "EDIT_MODELS", "SAGEMAKER_ENDPOINT_NAME"):
        monkeypatch.delenv(name, raising=False)
    status, body = get(models_route, "stable-diffusion-3.5-large")
    assert status == 200 and body["id"] == "sd3.5-large" and body["object"] == "model"
    for missing in ("stable-image-ultra", "gpt-4o", "x" * 500):  # in the catalog but off; unknown; long
        status, body = get(models_route, missing)
        assert status == 404 and body["error"]["code"] == "model_not_found" and body["error"]["param"] == "model"
        assert len(json.dumps(body)) < 1000


def test_every_name_generate_and_edit_take_is_a_model_here(models_route, monkeypatch):
    """models.retrieve("gpt-image-1") while generate takes gpt-image-1: OpenAI's names stand for the
    deployment's defaults, and say which; an alias answers as its model."""
    for name in ("GENERATE_MODELS", "EDIT_MODELS", "SAGEMAKER_ENDPOINT_NAME", "MODEL_ALIASES"):
        monkeypatch.delenv(name, raising=False)
    for name in catalog.data()["openai"]["names"]:
        status, body = get(models_route, name)
        assert status == 200 and body["id"] == name and body["object"] == "model", name
        assert body["stands_for"] == {"generate": "sd3.5-large", "edit": "sd3.5-large", "variation": "sd3.5-large"}
    monkeypatch.setenv("MODEL_ALIASES", '{"dall-e-3": "flux-schnell"}')
    catalog.names.cache_clear()
    status, body = get(models_route, "dall-e-3")
    assert status == 200 and body["id"] == "flux-schnell"
    for row in catalog.enabled("generate") + catalog.enabled("edit"):
        for alias in row.aliases:
            assert get(models_route, alias)[1]["id"] == row.name
