"""`python localdev/moto_server.py -H 127.0.0.1 -p PORT`: moto's server, plus what it lacks for us.

moto (5.x) has no Bedrock GetFoundationModel, which the root module's model check calls at every
plan: here it answers from a small catalogue of image models, shaped like Bedrock's own answer
(modelDetails with modelLifecycle), and 404 ResourceNotFoundException for any other id.

moto (5.x) drops a Lambda function's LoggingConfig (Lambda's JSON log format and log levels):
CreateFunction ignores it and GetFunction never returns it, so the aws provider would plan a
change to `logging_config` after every apply and the no-drift check would fail for moto's sake.
This keeps it the way AWS does: stored from CreateFunction / UpdateFunctionConfiguration and
returned (with AWS's defaults: Text, the function's own log group) by GetFunction[Configuration].
"""

from __future__ import annotations

import json
import sys
from typing import Any
from urllib.parse import unquote

from moto.awslambda import models
from moto.bedrock.responses import BedrockResponse
from moto.core.exceptions import JsonRESTError
from moto.server import main

# Image models as Bedrock describes them (modelLifecycle as of 2026-11: Nova Canvas and Titan Image
# Generator v2 are Legacy, per their model cards); the emulator's catalogue, not a source of truth.
FOUNDATION_MODELS = {
    "stability.sd3-5-large-v1:0": ("Stability AI", "Stable Diffusion 3.5 Large", ["TEXT", "IMAGE"], "ACTIVE"),
    "stability.stable-image-ultra-v1:1": ("Stability AI", "Stable Image Ultra", ["TEXT", "IMAGE"], "ACTIVE"),
    "stability.stable-image-core-v1:1": ("Stability AI", "Stable Image Core", ["TEXT"], "ACTIVE"),
    "amazon.nova-canvas-v1:0": ("Amazon", "Nova Canvas", ["TEXT", "IMAGE"], "LEGACY"),
    "amazon.titan-image-generator-v2:0": ("Amazon", "Titan Image Generator G1 v2", ["TEXT", "IMAGE"], "LEGACY"),
    "amazon.nova-pro-v1:0": ("Amazon", "Nova Pro", ["TEXT", "IMAGE", "VIDEO"], "ACTIVE"),  # text out: not for us
}


def get_foundation_model(self: BedrockResponse) -> str:
    model_id = unquote(self.path.rsplit("/foundation-models/", 1)[-1])
    if model_id not in FOUNDATION_MODELS:
        raise JsonRESTError("ResourceNotFoundException", f"Model {model_id} not found", code=404)
    provider, name, inputs, status = FOUNDATION_MODELS[model_id]
    details = {
        "modelArn": f"arn:aws:bedrock:{self.region}::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": name,
        "providerName": provider,
        "inputModalities": inputs,
        "outputModalities": ["TEXT"] if provider == "Amazon" and "pro" in model_id else ["IMAGE"],
        "responseStreamingSupported": False,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["ON_DEMAND", "INFERENCE_PROFILE"],
        "modelLifecycle": {"status": status},
    }
    return json.dumps({"modelDetails": details})


BedrockResponse.get_foundation_model = get_foundation_model

_init = models.LambdaFunction.__init__
_get_configuration = models.LambdaFunction.get_configuration
_update_configuration = models.LambdaFunction.update_configuration


def __init__(self, account_id: str, spec: dict[str, Any], region: str, version: str | int = 1) -> None:
    _init(self, account_id, spec, region, version)
    self.logging_config = {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{self.function_name}",
        **(spec.get("LoggingConfig") or {}),
    }


def get_configuration(self, on_create: bool = False) -> dict[str, Any]:
    config = _get_configuration(self, on_create)
    config["LoggingConfig"] = dict(self.logging_config)
    return config


def update_configuration(self, config_updates: dict[str, Any]) -> dict[str, Any]:
    if "LoggingConfig" in config_updates:
        self.logging_config = {**self.logging_config, **config_updates["LoggingConfig"]}
    return _update_configuration(self, config_updates)


models.LambdaFunction.__init__ = __init__
models.LambdaFunction.get_configuration = get_configuration
models.LambdaFunction.update_configuration = update_configuration

if __name__ == "__main__":
    main(sys.argv[1:])
