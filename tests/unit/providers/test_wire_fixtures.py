"""Our adapters and our fakes against the providers' documented wire formats (tests/fixtures/, sources named there).

The fakes and the adapters were written together; these fixtures were not: they are the bodies the
providers document. An adapter must send only documented fields, parse the documented answers; a
fake must accept the documented requests and answer in the documented shape.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from imagegen import catalog
from imagegen.errors import ContentFiltered
from imagegen.orders import Params
from imagegen.providers import bedrock, replicate, sagemaker
from localdev import fake_models, fake_replicate
from localdev.server import build_event, load_handler, load_routes
from tests.conftest import FakeContext

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
EVENTS = Path(__file__).resolve().parents[2] / "events"
PNG = fake_models.png(8, 8, (1, 2, 3))
JPEG = fake_models.jpeg(8, 8, (1, 2, 3))


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def with_image(payload: dict, field: str, data: bytes) -> dict:
    """The documented answer, its "..." placeholder replaced by a real image."""
    text = json.dumps(payload).replace('"..."', json.dumps(base64.b64encode(data).decode()))
    return json.loads(text)


def test_sd35_adapter_sends_only_documented_fields_and_parses_documented_answers():
    doc = fixture("bedrock_sd35_large")
    model = catalog.get("sd3.5-large")
    adapter = bedrock.adapter_for(model)
    body = adapter.body(model, Params(prompt="a panda", width=1344, height=768, seed=7, negative_prompt="blur"))
    assert set(body) <= set(doc["request_fields"])
    ratios = [ratio.strip() for ratio in doc["request_fields"]["aspect_ratio"].split("(")[0].split("|")]
    assert body["aspect_ratio"] == "16:9" and body["aspect_ratio"] in ratios
    assert body.get("mode", "text-to-image") in ("text-to-image", "image-to-image")
    assert adapter.parse(model, with_image(doc["response_example"], "images", PNG)) == [PNG]
    with pytest.raises(ContentFiltered):
        adapter.parse(model, doc["filtered_response_example"])


def test_sd35_fake_accepts_the_documented_request_and_answers_the_documented_shape():
    doc = fixture("bedrock_sd35_large")
    answer = fake_models.invoke_sd3("stability.sd3-5-large-v1:0", doc["request_example"])
    assert set(answer) == set(doc["response_example"])
    assert answer["finish_reasons"] == [None] and base64.b64decode(answer["images"][0]).startswith(b"\x89PNG")


def test_sagemaker_body_and_fake_against_the_jumpstart_example():
    doc = fixture("sagemaker_jumpstart_sd")
    body = sagemaker.body(Params(prompt="astronaut on a horse", width=512, height=512, seed=1, negative_prompt="x"))
    assert set(body) <= set(doc["request_fields"])
    assert doc["accept"] == sagemaker.ACCEPT
    answer = fake_models.invoke_endpoint("ep", doc["request_example"], doc["accept"])
    assert set(answer) == set(doc["response_example"])
    assert base64.b64decode(answer["generated_images"][0]).startswith(b"\xff\xd8\xff")


def test_the_fake_replicate_speaks_the_documented_prediction():
    doc = fixture("replicate_prediction")
    assert fake_replicate.validate_create(doc["create_request_example"], needs_version=True) == []
    server = fake_replicate.FakeReplicate(deliver=False)
    try:
        created = server.create(
            "replicate/hello-world", doc["create_request_example"]["version"], doc["create_request_example"]
        )
        server.delay = 0
        server.run(created["id"])  # the model runs (nothing is delivered: deliver=False)
        completed = server.predictions[created["id"]]
    finally:
        server.server_close()
    documented = doc["create_response_example"]
    assert set(documented) <= set(created), set(documented) - set(created)
    assert set(documented["urls"]) <= set(created["urls"])
    assert created["status"] == documented["status"] == "starting"
    # the completed prediction (the webhook's body) has every field Replicate documents for it
    webhook_body = doc["completed_webhook_body_example"]
    assert set(webhook_body) <= set(completed), set(webhook_body) - set(completed)
    assert completed["status"] == webhook_body["status"] == "succeeded"


def test_handlers_take_the_sam_cli_sample_event_and_powertools_accepts_our_events(aws, monkeypatch):
    import boto3

    boto3.client("ssm").put_parameter(Name="/t/secret", Value=fake_replicate.new_secret(), Type="SecureString")
    monkeypatch.setenv("REPLICATE_WEBHOOK_SECRET_PARAM", "/t/secret")
    # The event `sam local generate-event apigateway http-api-proxy` prints, routed to each of our routes
    sample = fixture("http_api_proxy_event")
    sample.pop("_source")
    APIGatewayProxyEventV2Model(**sample)  # the sample itself is a valid payload-2.0 event
    for route in load_routes():
        event = json.loads(json.dumps(sample))
        path = route.key.split(" ", 1)[1].replace("{id}", "0" * 32)
        event["routeKey"] = event["requestContext"]["routeKey"] = route.key
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["requestContext"]["http"]["method"] = route.method
        event["pathParameters"] = {"id": "0" * 32} if "{id}" in route.key else {}
        APIGatewayProxyEventV2Model(**event)
        handler = load_handler(route.function)
        response = handler(event, FakeContext())
        # {"test": "body"} is no request of ours; no job or model 000...0 exists; the webhook is unsigned: a 4xx
        # each, but the model list, the usage and the webhook secret, which take no body at all, and the page
        # and the contract
        if route.key in ("GET /v1/models", "GET /v1/usage"):
            assert response["statusCode"] == 200 and json.loads(response["body"])["object"] in ("list", "usage")
            continue
        if route.function == "web":
            assert response["statusCode"] == 200 and response["body"]
            continue
        if route.key == "GET /v1/webhooks/default/secret":  # takes no body: the caller's signing secret
            assert response["statusCode"] == 200 and json.loads(response["body"])["key"].startswith("whsec_")
            continue
        assert 400 <= response["statusCode"] < 500, (route.key, response)
        assert set(json.loads(response["body"])["error"]) >= {"code", "message"}
    # our own test events and what the local server builds validate against Powertools' model too
    for path in EVENTS.glob("*.json"):
        APIGatewayProxyEventV2Model(**json.loads(path.read_text()))
    for route in load_routes():
        match = route.pattern.match(route.key.split(" ", 1)[1].replace("{id}", "f" * 32))
        event = build_event(
            route,
            match,
            route.method,
            "/x?a=1&a=2",
            {"Content-Type": "application/json"},
            b"{}",
            "127.0.0.1",
            "localhost:8080",
        )
        APIGatewayProxyEventV2Model(**event)


def test_what_we_send_each_official_replicate_model_its_own_schema_accepts():
    # The fake knows Replicate's published input schemas (localdev/fake_replicate.SCHEMAS), not our catalog:
    # each catalog model's request, at the edges of the catalog's limits, must pass it.
    from imagegen import catalog

    for model in catalog.models().values():
        if model.provider != "replicate" or not model.official:
            continue
        if "generate" in model.tasks:
            guidance = 3.5 if model.limit("guidance") else None
            params = Params(prompt="x", width=1344, height=768, seed=3, steps=model.limit("steps")[1], n=4,
                            cfg_scale=guidance, output_format="webp", compression=80)  # fmt: skip
            sent = replicate.generation_input(model, params)
        else:
            form = replicate.form(model)
            sent = {form.image: "https://example.com/a.png"}
            sent |= {form.prompt: "x"} if form.prompt else {}
            sent |= {form.mask: "https://example.com/m.png"} if form.mask else {}
        assert fake_replicate.invalid_inputs(model.id, sent) == [], (model.name, sent)
    # and the fake refuses what Replicate refuses
    schnell = "black-forest-labs/flux-schnell"
    assert fake_replicate.invalid_inputs(schnell, {"prompt": "x", "num_inference_steps": 5})
    assert fake_replicate.invalid_inputs(schnell, {"prompt": "x", "width": 1024})
    assert fake_replicate.invalid_inputs(schnell, {"prompt": "x", "aspect_ratio": "7:5"})
    assert fake_replicate.invalid_inputs("black-forest-labs/flux-fill-pro", {"prompt": "x"})  # no image
