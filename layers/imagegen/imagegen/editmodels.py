"""Which models may edit images (and make variations), and how each takes its inputs.

- Bedrock (sync): EDIT_BEDROCK_MODELS, ids whose adapter can edit (imagegen.bedrock: SD3.5 Large
  image-to-image, Stability Inpaint). The answer is 201 with the images.
- Replicate (async): REPLICATE_EDIT_MODEL[:REPLICATE_EDIT_VERSION] (the default) and
  REPLICATE_EDIT_MODELS. Each model names its own inputs (FORMS below, or a row of
  REPLICATE_EDIT_FORMS); an unknown model takes the image as REPLICATE_EDIT_IMAGE_INPUT only.

`model` may be an alias (imagegen.models). EDIT_DEFAULT_MODEL picks the model when a request
names none (default: the Replicate default above).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache

from imagegen import bedrock, models, predictions
from imagegen.config import ConfigError, env, env_list
from imagegen.http import ApiError
from imagegen.invoke import invalid

# cartoonify is a community model: Replicate serves `POST /v1/models/{owner}/{name}/predictions`
# only for its official models, so the default is pinned to the version the source system used.
DEFAULT_EDIT_MODEL = "catacolabs/cartoonify"
DEFAULT_EDIT_VERSION = "f109015d60170dfb20460f17da8cb863155823c85ece1115e1e9e4ec7ef51d3b"


# Terraform's default too (edit_bedrock_models): SD3.5 Large image-to-image and Stability Inpaint.
DEFAULT_BEDROCK_MODELS = "us.stability.sd3-5-large-v1:0,us.stability.stable-image-inpaint-v1:0"


@dataclass(frozen=True)
class Form:
    """A Replicate model's input names for the image, the prompt and the mask (None: it has none).
    Its mask, like Stability's, is white where the image is repainted."""

    image: str = "image"
    prompt: str | None = None
    mask: str | None = None
    prompt_required: bool = False
    mask_required: bool = False

    def inputs(self) -> set[str]:
        return {name for name in (self.image, self.prompt, self.mask) if name}


# From each model's API page on replicate.com (input schema).
FORMS = {
    "catacolabs/cartoonify": Form(image="image"),
    "black-forest-labs/flux-kontext-pro": Form(image="input_image", prompt="prompt", prompt_required=True),
    "black-forest-labs/flux-kontext-max": Form(image="input_image", prompt="prompt", prompt_required=True),
    "black-forest-labs/flux-fill-pro": Form(image="image", prompt="prompt", mask="mask", mask_required=True),
    "black-forest-labs/flux-fill-dev": Form(image="image", prompt="prompt", mask="mask", mask_required=True),
}


@dataclass(frozen=True)
class Choice:
    provider: str  # bedrock | replicate
    model: str  # a Bedrock model id, or a Replicate owner/name[:version] from the allowlist


def default_replicate_model() -> str:
    model = env("REPLICATE_EDIT_MODEL", DEFAULT_EDIT_MODEL)
    pinned = DEFAULT_EDIT_VERSION if model == DEFAULT_EDIT_MODEL else ""
    version = os.environ.get("REPLICATE_EDIT_VERSION", pinned).strip()
    ref = f"{model}:{version}" if version else model
    try:
        predictions.parse_model_ref(ref)
    except ValueError as exc:
        raise ConfigError(f"REPLICATE_EDIT_MODEL/REPLICATE_EDIT_VERSION: {exc}") from None
    return ref


def replicate_models() -> tuple[str, ...]:
    """The Replicate models a request may pick: REPLICATE_EDIT_MODELS, and always the default."""
    refs = [default_replicate_model(), *env_list("REPLICATE_EDIT_MODELS", default_replicate_model())]
    for ref in refs:
        try:
            predictions.parse_model_ref(ref)
        except ValueError as exc:
            raise ConfigError(f"REPLICATE_EDIT_MODELS: {exc}") from None
    return tuple(dict.fromkeys(refs))


def bedrock_models() -> tuple[str, ...]:
    ids = tuple(env_list("EDIT_BEDROCK_MODELS", DEFAULT_BEDROCK_MODELS))
    for model_id in ids:
        adapter = bedrock.adapter_for(model_id)  # an unknown family is a ConfigError
        if "edit" not in adapter.tasks and "variation" not in adapter.tasks:
            raise ConfigError(f"EDIT_BEDROCK_MODELS: {model_id} ({adapter.name}) cannot edit images")
    return ids


@cache
def configured_forms() -> dict[str, Form]:
    try:
        rows = json.loads(env("REPLICATE_EDIT_FORMS", "{}"))
        return {**FORMS, **{name: Form(**row) for name, row in rows.items()}}
    except (ValueError, TypeError, AttributeError):
        raise ConfigError(
            'REPLICATE_EDIT_FORMS must be {"owner/name": {"image": "...", "prompt"?: "...", "mask"?: "...", '
            '"prompt_required"?: bool, "mask_required"?: bool}}'
        ) from None


def form(model_ref: str) -> Form:
    """How the Replicate model takes its inputs."""
    known = configured_forms().get(model_ref.partition(":")[0])
    return known or Form(image=env("REPLICATE_EDIT_IMAGE_INPUT", "image"))


def can(choice: Choice, task: str) -> bool:
    if choice.provider == "bedrock":
        return task in bedrock.adapter_for(choice.model).tasks
    return task == "edit" or not form(choice.model).prompt_required


def choose(requested: object, task: str) -> Choice:
    """The model for an edit or variation request, or a 400 that lists the ones allowed."""
    if requested is not None and not isinstance(requested, str):
        raise ApiError(400, "invalid_model", "model: must be a string (a model id or alias)", "model")
    if not requested:
        return default_choice(task)
    name = models.resolve(requested)
    if name in bedrock_models():
        chosen = Choice("bedrock", name)
    else:
        ref = next((r for r in replicate_models() if name in (r, r.partition(":")[0])), None)
        if ref is None:
            allowed = ", ".join([*bedrock_models(), *replicate_models()])
            message = f"model {requested[:200]!r} is not allowed here; use one of {allowed}"
            raise ApiError(400, "model_not_allowed", message, "model")
        chosen = Choice("replicate", ref)
    if not can(chosen, task):
        raise invalid("model", f"{requested[:200]} cannot make {'variations' if task == 'variation' else 'edits'}")
    return chosen


def default_choice(task: str) -> Choice:
    """EDIT_DEFAULT_MODEL (else the Replicate default); for variations, the first model that can."""
    configured = env("EDIT_DEFAULT_MODEL", "")
    first = choose(configured, "edit") if configured else Choice("replicate", default_replicate_model())
    candidates = [first, *(Choice("bedrock", m) for m in bedrock_models())]
    for candidate in candidates:
        if can(candidate, task):
            return candidate
    raise ApiError(400, "model_not_allowed", f"no model here can make {task}s; name one with model", "model")
