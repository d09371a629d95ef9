"""Text-to-image: validate the request, call the provider, store the images, record the job.

`POST /v1/images/generations` takes JSON
`{"prompt", "negative_prompt"?, "provider"?, "model"?, "width"?, "height"?, "seed"?, "steps"?,
"cfg_scale"?, "n"?}`; the seeds' forms are aliases: `{"message": "<prompt>"}` (the Bedrock
seeds) and `GET /v1/images/generations?prompt=...` (the SageMaker seed; the other fields
may be query parameters too).

- Bedrock and SageMaker are synchronous: each image is stored under
  images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} with its real content type, a job record is
  written `succeeded`, and the answer is `201` with presigned GET URLs.
- Replicate is asynchronous: the prediction is submitted with a webhook and the answer is
  `202` with the job; the webhook function stores the images.

Which models a request may pick is configuration (GENERATE_MODELS: catalog names, the first the default;
SAGEMAKER_ENDPOINT_NAME); each model checks its own sizes and ranges from its catalog row, and
anything outside them is a 400 whose message starts with the field's name.
"""

from __future__ import annotations

import logging
from typing import Any

from imagegen import catalog, logs, providers
from imagegen.api import fields, prefer, respond
from imagegen.api.events import Request
from imagegen.catalog import Model
from imagegen.errors import ApiError, ConfigError, check_length, invalid
from imagegen.jobs import webhooks
from imagegen.orders import MAX_N, MAX_PROMPT, Order, Params, check_model_calls, model_call_cap

log = logging.getLogger("imagegen")

PROVIDERS = tuple(providers.REGISTRY)
INT_FIELDS = ("width", "height", "seed", "steps", "n")
# OpenAI's Images API fields: served, or refused by name, never dropped (quality and output_format
# are each model's to honour or refuse).
OPENAI_FIELDS = (
    "size",
    "response_format",
    "user",
    "quality",
    "style",
    "output_format",
    "output_compression",
    "background",
)
# Only their defaults (no model here has styles or transparent backgrounds).
OPENAI_DEFAULTS = {"style": (), "background": ("auto", "opaque")}
FIELDS = frozenset(
    {
        "prompt",
        "message",
        "negative_prompt",
        "provider",
        "model",
        "cfg_scale",
        *INT_FIELDS,
        *OPENAI_FIELDS,
        *fields.TODAYS_FIELDS,
        "webhook",
        "webhook_events_filter",
    }
)


def check_configuration() -> None:
    """Called at cold start: log a misconfiguration once, clearly (requests then get a 503)."""
    try:
        generate_models()
    except ConfigError as err:
        log.error("generate is misconfigured: %s", err)


def read_fields(request: Request) -> tuple[dict[str, Any], bool]:
    """The request's fields (JSON body, or the query string of a GET) and whether they are strings."""
    if request.method == "GET":
        return dict(request.query), True
    return request.json(), False


def parse(request: Request) -> Order:
    """The generation request as an Order, or a 400 naming the field at fault. Writes nothing."""
    body, from_query = read_fields(request)
    if "message" in body:
        if "prompt" in body:
            raise invalid("message", "send prompt or message (its older name), not both")
        body["prompt"] = body.pop("message")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise invalid(unknown[0], f"unknown field; the fields are {', '.join(sorted(FIELDS - {'message'}))}")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("prompt", "a non-empty string is required")
    check_length("prompt", prompt, MAX_PROMPT, "any model")
    negative = body.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise invalid("negative_prompt", "must be a string")
    body = {**body, **size_fields(body)}
    fields.defaults_only(body, OPENAI_DEFAULTS)
    response_format = catalog.response_format(body.get("response_format"), body.get("model"))
    quality = body.get("quality")
    if quality is not None and not isinstance(quality, str):
        raise invalid("quality", "must be a string")
    user = fields.end_user(body)
    numbers = {name: fields.whole_number(name, body.get(name), from_query) for name in INT_FIELDS}
    n = 1 if numbers["n"] is None else numbers["n"]
    if not 1 <= n <= MAX_N:
        raise invalid("n", f"{n} is outside 1..{MAX_N}")
    for name in ("width", "height", "steps"):
        if numbers[name] is not None and numbers[name] < 1:
            raise invalid(name, f"{numbers[name]} must be a positive whole number")
    if numbers["seed"] is not None and numbers["seed"] < 0:
        raise invalid("seed", f"{numbers['seed']} must not be negative")
    row, model = pick_model(body.get("provider"), body.get("model"))
    check_model_calls(1, n, model_call_cap(request.limits), answered_now(request, row))
    output_format, compression = fields.output(body, from_query)
    params = Params(
        prompt=prompt,
        negative_prompt=negative or None,
        width=numbers["width"],
        height=numbers["height"],
        seed=numbers["seed"],
        steps=numbers["steps"],
        cfg_scale=fields.number("cfg_scale", body.get("cfg_scale"), from_query),
        n=n,
        quality=None if quality == "auto" else quality,
        output_format=output_format,
        compression=compression,
    )
    asked = {"size": body["size"]} if isinstance(body.get("size"), str) and body["size"] != "auto" else {}
    return Order(
        row,
        model,
        params,
        response_format=response_format,
        user=user,
        owner=request.owner,
        limits=request.limits,
        asked=asked,
        webhook=webhooks.target(body, request.limits.get("webhook")),
    )


def answered_now(request: Request, row: Model) -> bool:
    """The request is answered within its 29 s: a model that answers now, without respond-async."""
    return not row.answers_later and not prefer.respond_async(request)


def size_fields(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `size` ("WxH" or "auto") as our width and height; both forms at once is a 400."""
    width, height = fields.size(body.get("size"))
    if width is None:
        return {}
    if width < 1 or height < 1:
        raise invalid("size", f"{body['size']} must be two positive whole numbers, WIDTHxHEIGHT")
    if body.get("width") is not None or body.get("height") is not None:
        raise invalid("size", "send size or width/height, not both")
    return {"width": width, "height": height}


def generate_models() -> list[Model]:
    """The models a generation may pick, the default first (GENERATE_MODELS, and the SageMaker endpoint)."""
    rows = list(catalog.for_task("generate", "generate"))
    if not rows:
        raise ConfigError("GENERATE_MODELS has no model that can generate")
    return rows


def pick_model(provider: object, model: object) -> tuple[Model, str]:
    """(catalog row, what the provider is called with): a model (or its alias) picks its own provider; a provider
    alone picks its first enabled model; neither, the deployment's default."""
    rows = generate_models()
    enabled = [p for p in PROVIDERS if any(r.provider == p for r in rows)]
    if provider not in (None, "") and provider not in PROVIDERS:
        message = f"provider: {str(provider)[:40]!r} is not one of {', '.join(PROVIDERS)}"
        raise ApiError(400, "unknown_provider", message, "provider")
    if provider not in (None, "") and provider not in enabled:
        message = f"provider: {provider} is not enabled on this deployment; enabled: {', '.join(enabled)}"
        raise ApiError(400, "provider_not_enabled", message, "provider")
    candidates = [r for r in rows if provider in (None, "", r.provider)]
    if catalog.stands_for_default(model):  # OpenAI's own names: the deployment's model for the route
        model = None
    row = candidates[0] if model in (None, "") else catalog.find(model)
    if row not in candidates:
        allowed = ", ".join(r.name for r in candidates)
        message = f"model: {str(model)[:100]!r} is not enabled for generations here; use one of {allowed}"
        raise ApiError(400, "model_not_allowed", message, "model")
    return row, providers.ref(row)


# --- doing it ---------------------------------------------------------------------------


def handle(request: Request) -> dict:
    """The whole route: parse, pick the model, check what it can do, answer (api.respond)."""
    order = parse(request)
    logs.bind(provider=order.provider, model=order.model)
    try:
        providers.validate(order.row, order.params)
    except ApiError as err:  # a size the client sent as `size` is named `size`, not width or height
        if err.param in ("width", "height") and "size" in order.asked:
            raise invalid("size", f"{order.asked['size']}: {err.message}") from None
        raise
    return respond.images(request, order, [order.params])
