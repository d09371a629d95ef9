"""`GET /v1/models` and `GET /v1/models/{id}`: the deployment's models in OpenAI's list format.

Clients fill their model pickers from it (the `openai` SDKs' `models.list()`): `{"object": "list",
"data": [{"id", "object": "model", "created", "owned_by"}]}`, from the catalog rows the deployment
enabled (GENERATE_MODELS, EDIT_MODELS, the SageMaker endpoint), each with our own fields beside
OpenAI's: the routes it serves and its default, its sizes, its price per image, the names it answers to.
`created` is the Unix time of the day the row's facts (and price) were checked.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone

from imagegen import catalog
from imagegen.api.events import Request, json_response
from imagegen.catalog import Model
from imagegen.errors import ApiError, clip

# The routes a task is served on (OpenAI's paths).
ROUTES = {"generate": "/v1/images/generations", "edit": "/v1/images/edits", "variation": "/v1/images/variations"}


# The functions that serve models, and the tasks each serves.
FUNCTIONS = {"generate": ("generate",), "edit": ("edit", "variation")}


def enabled() -> dict[str, list[str]]:
    """Catalog name -> the tasks this deployment serves it for, in the order the deployment lists them."""
    found: dict[str, list[str]] = {}
    for function, tasks in FUNCTIONS.items():
        for model in catalog.enabled(function):
            found.setdefault(model.name, []).extend(t for t in tasks if t in model.tasks)
    return found


def defaults() -> dict[str, str]:
    """Task -> the catalog name a request without `model` gets: a generation, an edit with a prompt
    (and no mask), a variation."""
    chosen = {}
    first = catalog.for_task("generate", "generate")
    if first:
        chosen["generate"] = first[0].name
    for task, prompt in (("edit", "a prompt"), ("variation", None)):
        with contextlib.suppress(ApiError):  # no enabled model fits: such a request is a 400 naming model
            chosen[task] = catalog.default_for(task, prompt).name
    return chosen


def view(model: Model, tasks: list[str], default_for: list[str]) -> dict:
    checked = datetime.fromisoformat(model.price["date"]).replace(tzinfo=timezone.utc)
    sizes = model.limit("aspect_ratios", {})
    return {
        "id": model.name,
        "object": "model",
        "created": int(checked.timestamp()),
        "owned_by": model.owner,
        "provider": model.provider,
        "tasks": tasks,
        "routes": [ROUTES[task] for task in tasks],
        "default_for": default_for,
        "sizes": list(sizes.values()) if isinstance(sizes, dict) else [],
        "aspect_ratios": list(sizes),
        "images_per_call": model.limit("n", 1),  # a generation asks for up to 4: more calls at once
        "max_input_pixels": model.limit("image", {}).get("max_pixels"),  # an edit's source: larger is scaled
        "price_per_image_usd": model.price["usd"],
        "price_date": model.price["date"],
        "aliases": list(model.aliases),
    }


def served(name: str, tasks: list[str], first: dict[str, str]) -> dict:
    """The view of one enabled model, with the tasks it is the default for."""
    return view(catalog.get(name), tasks, [task for task, default in first.items() if default == name])


def list_models() -> dict:
    first = defaults()
    return {"object": "list", "data": [served(name, tasks, first) for name, tasks in enabled().items()]}


def stands_for(name: str) -> dict:
    """One of OpenAI's model names (gpt-image-1, dall-e-3, ...): generate and edit take it and give it the
    deployment's default model for the request, so it is answered as a model too, saying which."""
    first = defaults()
    tasks = list(first)
    return {
        "id": name,
        "object": "model",
        "created": int(datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()),
        "owned_by": "imagegen",
        "tasks": tasks,
        "routes": [ROUTES[task] for task in tasks],
        "default_for": [],
        "stands_for": first,
        "aliases": [],
    }


def one(name: str) -> dict:
    """One enabled model by its catalog name (or an alias of it), one of OpenAI's names the routes take
    (standing for the deployment's defaults), or OpenAI's 404."""
    if catalog.stands_for_default(name):
        return stands_for(name)
    model = catalog.find(name)
    tasks = enabled().get(model.name) if model else None
    if not tasks:
        message = f"the model {clip(name)!r} is not served here; GET /v1/models lists the ones that are"
        raise ApiError(404, "model_not_found", message, "model")
    return served(model.name, tasks, defaults())


def handle(request: Request) -> dict:
    name = request.path_params.get("id")
    return json_response(200, one(name) if name else list_models())
