"""The model catalog held against what the providers themselves say they offer.

Bedrock: AWS's ListFoundationModels + ListInferenceProfiles in every region
(localdev/providers/bedrock-image-models.json, a copy of shared/providers/ with its source line).
A row that names a region or a profile AWS does not list fails here instead of in production.
"""

from __future__ import annotations

import json

import pytest

from imagegen import catalog
from tests.conftest import IN_CI, ROOT

SNAPSHOT = ROOT / "localdev" / "providers" / "bedrock-image-models.json"
SHARED = ROOT.parent / "shared" / "providers" / "bedrock-image-models.json"
OFFERED = json.loads(SNAPSHOT.read_text())["models"]
BEDROCK = [m for m in catalog.models().values() if m.provider == "bedrock"]


def test_the_snapshot_is_the_shared_one_where_shared_is_beside_the_checkout():
    if SHARED.exists() or IN_CI:  # CI and our machines have shared/ beside the clone; a user's has only the copy
        assert SHARED.exists(), f"{SHARED} is missing: CI runs with shared/ beside the clone"
        assert json.loads(SHARED.read_text()) == json.loads(SNAPSHOT.read_text())
    assert "ListFoundationModels" in json.loads(SNAPSHOT.read_text())["source"]


@pytest.mark.parametrize("model", BEDROCK, ids=lambda m: m.name)
def test_every_bedrock_row_is_offered_where_it_is_called(model):
    listed = OFFERED.get(model.id)
    assert listed, f"{model.id} is not in AWS's list of image models"
    assert listed["model_lifecycle_status"] == "ACTIVE"
    ways = listed["inference_types"].get(model.region, [])
    if model.profile:
        geography = model.profile.upper()
        assert geography in ways, f"{model.id} has no {geography} profile in {model.region}: {ways}"
        assert sorted(model.routes_to) == sorted(listed["inferenceProfile"][geography][model.region])
    else:
        assert "ON_DEMAND" in ways, f"{model.id} is not on demand in {model.region}: {ways}"
        assert not model.routes_to


def test_every_catalog_row_is_complete_and_consistent():
    for model in catalog.models().values():
        assert model.provider in ("bedrock", "replicate", "sagemaker")
        assert model.tasks and set(model.tasks) <= {"generate", "edit", "variation"}
        assert model.lifecycle == "active"
        assert set(model.price) == {"usd", "source", "date"} and model.price["source"]
        if model.provider == "replicate":
            assert model.official or (model.version and len(model.version) == 64), model.name
            if {"edit", "variation"} & set(model.tasks):
                assert model.inputs.get("image"), model.name
        names = [model.name, model.ref, *model.aliases]
        assert all(catalog.find(name) == model for name in names)


def test_the_defaults_name_catalog_rows_that_can_do_their_tasks():
    defaults = catalog.data()["defaults"]
    assert "generate" in catalog.get(defaults["generate"][0]).tasks
    assert "edit" in catalog.get(defaults["edit"][0]).tasks
    for names in defaults.values():
        assert all(catalog.get(name) for name in names)


def test_no_alias_names_two_models():
    seen: dict[str, str] = {}
    for model in catalog.models().values():
        for name in {model.name, model.ref, *model.aliases}:
            assert seen.setdefault(name, model.name) == model.name, name


def test_a_retired_model_cannot_be_enabled(monkeypatch):
    retired = catalog.models()["sd3.5-large"].__class__(
        name="old", provider="bedrock", family="stability-sd3", id="x", tasks=("generate",), lifecycle="legacy"
    )
    monkeypatch.setitem(catalog.models(), "old", retired)
    monkeypatch.setenv("GENERATE_MODELS", "old")
    with pytest.raises(catalog.ConfigError, match="end of life"):
        catalog.enabled("generate")


def test_the_readme_model_table_is_generated_from_the_catalog():
    from scripts import catalog_docs

    readme = (ROOT / "docs" / "models.md").read_text()
    assert catalog_docs.table() in readme and readme.count(catalog_docs.START) == 1
    assert catalog_docs.main(["--check"]) == 0, (
        "run: python scripts/catalog_docs.py (docs/models.md's model table is stale)"
    )


def test_an_images_cost_is_its_rows_list_price_times_the_count():
    row = catalog.get("flux-schnell")
    assert catalog.image_cost("flux-schnell", 4) == {
        "cost_usd": round(4 * row.price["usd"], 6),
        "price_date": row.price["date"],
    }
    assert catalog.image_cost(row.ref, 1)["cost_usd"] == row.price["usd"]  # by provider ref, as a job records it
    assert catalog.image_cost("sagemaker", 2) == {}  # instance hours, not images
    assert catalog.image_cost("no-such-model", 1) == {}
