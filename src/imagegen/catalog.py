"""The model catalog (catalog.json beside this file): one row per model, read once per cold start.

A deployment enables models by catalog name: GENERATE_MODELS and EDIT_MODELS, comma-joined names
for the generate and edit functions (Terraform's `models`; unset: the catalog's `defaults`), the
first being the route's default. A request's `model` may be the
catalog name, an alias of the row (its provider id among them), or a deployment alias
(MODEL_ALIASES, JSON {"alias": "catalog name"}).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from imagegen import settings
from imagegen.errors import ApiError, ConfigError, invalid

PATH = Path(__file__).with_name("catalog.json")
RESPONSE_FORMATS = ("url", "b64_json")


@dataclass(frozen=True)
class Model:
    name: str
    provider: str  # bedrock | replicate
    family: str  # the request format: one adapter per family
    id: str  # Bedrock foundation-model id; Replicate owner/name
    tasks: tuple[str, ...]
    lifecycle: str = "active"
    region: str | None = None  # Bedrock: where it is invoked
    profile: str | None = None  # Bedrock: inference profile geography (us, eu, ...)
    routes_to: tuple[str, ...] = ()
    marketplace_product_id: str | None = None  # Bedrock: subscribed on first invocation
    version: str | None = None  # Replicate: the pinned version
    official: bool = False
    limits: dict[str, Any] = field(default_factory=dict, compare=False)
    inputs: dict[str, Any] = field(default_factory=dict, compare=False)
    output_formats: tuple[str, ...] = ()
    price: dict[str, Any] = field(default_factory=dict, compare=False)
    aliases: tuple[str, ...] = ()
    owned_by: str | None = None  # GET /v1/models' owned_by, where the id does not say it

    @property
    def owner(self) -> str:
        """Who makes the model: the id's first part (stability.sd3..., black-forest-labs/flux-...)."""
        return self.owned_by or re.split(r"[/.]", self.id)[0]

    @property
    def ref(self) -> str:
        """What the provider is called with: a Bedrock model or profile id, a Replicate owner/name[:version]."""
        if self.profile:
            return f"{self.profile}.{self.id}"
        return f"{self.id}:{self.version}" if self.version else self.id

    @property
    def answers_later(self) -> bool:
        """Its provider answers later (the catalog's `providers` table): its request answers with a job,
        the webhook stores the images."""
        return data()["providers"][self.provider]["answers"] == "later"

    def takes(self, name: str) -> bool:
        """Whether an edit on this model takes the request's `prompt` or `mask` (its row's inputs)."""
        return name in self.inputs

    def requires(self, name: str) -> bool:
        return name in self.inputs.get("requires", ())

    def limit(self, name: str, default: Any = None) -> Any:
        return self.limits.get(name, default)


def row(name: str, data: dict) -> Model:
    lists = {key: tuple(data.get(key, ())) for key in ("tasks", "routes_to", "output_formats", "aliases")}
    return Model(name=name, **{**data, **lists})


@cache
def data() -> dict:
    return json.loads(PATH.read_text())


@cache
def models() -> dict[str, Model]:
    """Every row of the catalog, by catalog name."""
    return {name: row(name, fields) for name, fields in data()["models"].items()}


@cache
def names() -> dict[str, str]:
    """Every name a request may use for a model (catalog name, aliases, provider refs) -> catalog name."""
    table: dict[str, str] = {}
    for model in models().values():
        for name in (model.name, model.ref, *model.aliases):
            table.setdefault(name, model.name)
    if settings.sagemaker_endpoint_name():  # the `sagemaker` row is the deployment's endpoint: it answers to its name
        table.setdefault(settings.sagemaker_endpoint_name(), "sagemaker")
    for alias, target in settings.model_aliases().items():
        if target not in table:
            raise ConfigError(f"MODEL_ALIASES: {alias!r} names {target!r}, which is not in the model catalog")
        table[alias] = table[target]
    return table


def stands_for_default(name: object) -> bool:
    """True for one of OpenAI's model names (catalog `openai.names`) the deployment has not aliased to a
    model: it asks for the route's default model, as a client that only knows OpenAI's names means."""
    return isinstance(name, str) and name in data()["openai"]["names"] and name not in names()


def response_format(requested: object, name: object) -> str:
    """A request's `response_format` (url or b64_json, else a 400 naming it); absent, `b64_json` for a
    GPT image model name (OpenAI answers those so), else the deployment's default (DEFAULT_RESPONSE_FORMAT)."""
    if requested not in (None, ""):
        if requested not in RESPONSE_FORMATS:
            raise invalid("response_format", "must be url or b64_json")
        return requested
    if isinstance(name, str) and name in data()["openai"]["answer_b64_json"]:
        return "b64_json"
    return settings.default_response_format()


def image_cost(model: object, count: int) -> dict[str, Any]:
    """What `count` images of a model (its catalog name, alias or provider ref) cost at the row's list
    price: `cost_usd` and `price_date`; {} for a model billed otherwise (SageMaker's instance hours)."""
    row = find(model)
    usd = row.price.get("usd") if row else None
    if not isinstance(usd, int | float):
        return {}
    return {"cost_usd": round(usd * count, 6), "price_date": row.price["date"]}


def recompresses(model: object, compression: object) -> bool:
    """True if images of `model` (a name, alias or provider ref) are to be encoded again at OpenAI's
    `output_compression`: asked for (below 100), and the model has no setting of its own for it
    (FLUX has: output_quality; Stability and the SageMaker endpoint have not)."""
    row = find(model)
    return isinstance(compression, int) and compression < 100 and row is not None and not row.limit("output_quality")


def get(name: str) -> Model:
    try:
        return models()[name]
    except KeyError:
        raise ConfigError(f"{name!r} is not in the model catalog") from None


def find(name: object) -> Model | None:
    """The catalog row a request's `model` names, or None."""
    return models()[names()[name]] if isinstance(name, str) and name in names() else None


@cache
def enabled(function: str) -> tuple[Model, ...]:
    """The function's models ({FUNCTION}_MODELS, else the catalog's defaults for it), in order: the
    first is the default. Checked at cold start."""
    setting = f"{function.upper()}_MODELS"
    chosen = tuple(
        get(name) for name in dict.fromkeys(settings.function_models(function) or data()["defaults"][function])
    )
    if function == "generate":  # the `sagemaker` row is the deployment's endpoint: on when one is named
        endpoint, sagemaker = settings.sagemaker_endpoint_name(), get("sagemaker")
        if sagemaker in chosen and not endpoint:
            raise ConfigError(f"{setting} names sagemaker but SAGEMAKER_ENDPOINT_NAME is not set")
        if endpoint and sagemaker not in chosen:
            chosen = (*chosen, sagemaker)
    retired = [m.name for m in chosen if m.lifecycle != "active"]
    if retired:
        raise ConfigError(f"{setting}: {', '.join(retired)} reached end of life; remove them")
    return chosen


def for_task(function: str, task: str) -> tuple[Model, ...]:
    return tuple(m for m in enabled(function) if task in m.tasks)


def default_for(task: str, prompt: str | None = None, masked: bool = False) -> Model:
    """The edit function's model for a request that names none, in the order the deployment lists them:

    - a variation: the first that makes variations now (never silently an async one: a client that
      did not ask for a job reads a 202's empty `data` as "no image");
    - an edit with a mask: the first that takes a mask; with a prompt: the first that takes a prompt;
      with neither: the first that takes no prompt, else the first that needs none.
    """
    candidates = for_task("edit", task)
    if task == "variation":
        fitting = [m for m in candidates if not m.answers_later]
        wanted = "makes variations synchronously"
    elif masked:
        fitting, wanted = [m for m in candidates if m.takes("mask")], "takes a mask"
    elif prompt and prompt.strip():
        fitting, wanted = [m for m in candidates if m.takes("prompt")], "takes a prompt"
    else:
        fitting = [m for m in candidates if not m.takes("prompt")] or [
            m for m in candidates if not m.requires("prompt")
        ]
        wanted = "edits without a prompt"
    if not fitting:
        named = ", ".join(m.name for m in candidates) or "none"
        message = f"model: no model enabled here {wanted}; name one of those that can make {task}s: {named}"
        raise ApiError(400, "model_not_allowed", message, "model")
    return fitting[0]
