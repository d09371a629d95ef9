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
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from imagegen import bedrock, catalog, images, jobs, logs, parsing, results, sagemaker, storage, waiting
from imagegen.catalog import Model
from imagegen.config import ConfigError
from imagegen.http import ApiError, Request, json_response
from imagegen.invoke import Params, ProviderError, check_length, check_range, invalid, refuse

log = logging.getLogger("imagegen")

PROVIDERS = ("bedrock", "sagemaker", "replicate")
MAX_PROMPT = 10000  # the longest any provider takes; each model then applies its own limit
MAX_N = 4
INT_FIELDS = ("width", "height", "seed", "steps", "n")
# OpenAI's Images API fields we honour; the ones no provider here can honour are refused by name,
# never dropped (style, output_format, background: only their defaults are accepted; quality is
# each model's to honour or refuse).
OPENAI_FIELDS = ("size", "response_format", "user", "quality", "style", "output_format", "background")
OPENAI_DEFAULTS = {"style": (), "output_format": ("png",), "background": ("auto",)}
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
        *parsing.TODAYS_FIELDS,
    }
)


def check_configuration() -> None:
    """Called at cold start: log a misconfiguration once, clearly (requests then get a 503)."""
    try:
        generate_models()
    except ConfigError as err:
        log.error("generate is misconfigured: %s", err)


def models_offline() -> bool:
    """True when Bedrock/SageMaker are the local fakes (make serve without an AWS account)."""
    return os.environ.get("IMAGEGEN_MODELS_OFFLINE", "") == "1"


# --- the request ------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    provider: str
    model: str
    params: Params
    response_format: str = "url"
    user: str | None = None
    owner: str | None = None  # the API key id of the caller, when keys are on
    row: Model | None = None  # the model's catalog row


def read_fields(request: Request) -> tuple[dict[str, Any], bool]:
    """The request's fields (JSON body, or the query string of a GET) and whether they are strings."""
    if request.method == "GET":
        return dict(request.query), True
    return request.json(), False


def parse(request: Request) -> Order:
    fields, from_query = read_fields(request)
    if "message" in fields:
        if "prompt" in fields:
            raise invalid("message", "send prompt or message (its older name), not both")
        fields["prompt"] = fields.pop("message")
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise invalid(unknown[0], f"unknown field; the fields are {', '.join(sorted(FIELDS - {'message'}))}")
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid("prompt", "a non-empty string is required")
    check_length("prompt", prompt, MAX_PROMPT, "any model")
    negative = fields.get("negative_prompt")
    if negative is not None and not isinstance(negative, str):
        raise invalid("negative_prompt", "must be a string")
    fields = {**fields, **size_fields(fields)}
    for name, accepted in OPENAI_DEFAULTS.items():
        if fields.get(name) not in (None, *accepted):
            raise invalid(name, f"{str(fields[name])[:40]!r} cannot be honoured by the models here; leave it out")
    response_format = fields.get("response_format") or "url"
    if response_format not in results.RESPONSE_FORMATS:
        raise invalid("response_format", "must be url or b64_json")
    quality = fields.get("quality")
    if quality is not None and not isinstance(quality, str):
        raise invalid("quality", "must be a string")
    user = parsing.end_user(fields)
    numbers = {name: parsing.whole_number(name, fields.get(name), from_query) for name in INT_FIELDS}
    n = 1 if numbers["n"] is None else numbers["n"]
    if not 1 <= n <= MAX_N:
        raise invalid("n", f"{n} is outside 1..{MAX_N}")
    for name in ("width", "height", "steps"):
        if numbers[name] is not None and numbers[name] < 1:
            raise invalid(name, f"{numbers[name]} must be a positive whole number")
    if numbers["seed"] is not None and numbers["seed"] < 0:
        raise invalid("seed", f"{numbers['seed']} must not be negative")
    provider, model, row = pick_model(fields.get("provider"), fields.get("model"))
    params = Params(
        prompt=prompt,
        negative_prompt=negative or None,
        width=numbers["width"],
        height=numbers["height"],
        seed=numbers["seed"],
        steps=numbers["steps"],
        cfg_scale=parsing.number("cfg_scale", fields.get("cfg_scale"), from_query),
        n=n,
        quality=None if quality == "auto" else quality,
    )
    if provider != "bedrock" and params.quality not in (None, "standard"):
        raise invalid("quality", f"{quality[:40]!r} cannot be honoured by {provider} models here; leave it out")
    return Order(provider, model, params, response_format, user, request.owner, row)


def size_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `size` ("WxH" or "auto") as our width and height; both forms at once is a 400."""
    width, height = parsing.size(fields.get("size"))
    if width is None:
        return {}
    if fields.get("width") is not None or fields.get("height") is not None:
        raise invalid("size", "send size or width/height, not both")
    return {"width": width, "height": height}


def generate_models() -> list[Model]:
    """The models a generation may pick, the default first (GENERATE_MODELS, and the SageMaker endpoint)."""
    rows = list(catalog.for_task("generate", "generate"))
    if not rows:
        raise ConfigError("GENERATE_MODELS has no model that can generate")
    return rows


def pick_model(provider: object, model: object) -> tuple[str, str, Model]:
    """(provider, model ref, catalog row): a model (or its alias) picks its own provider; a provider
    alone picks its first enabled model; neither, the deployment's default."""
    rows = generate_models()
    endpoint = sagemaker.endpoint_name()
    enabled = [p for p in PROVIDERS if any(r.provider == p for r in rows)]
    if provider not in (None, "") and provider not in PROVIDERS:
        message = f"provider: {str(provider)[:40]!r} is not one of {', '.join(PROVIDERS)}"
        raise ApiError(400, "unknown_provider", message, "provider")
    if provider not in (None, "") and provider not in enabled:
        message = f"provider: {provider} is not enabled on this deployment; enabled: {', '.join(enabled)}"
        raise ApiError(400, "provider_not_enabled", message, "provider")
    candidates = [r for r in rows if provider in (None, "", r.provider)]
    name = "sagemaker" if endpoint and model == endpoint else model  # the endpoint answers to its name
    row = candidates[0] if model in (None, "") else catalog.find(name)
    if row not in candidates:
        allowed = ", ".join(r.name for r in candidates)
        message = f"model: {str(model)[:100]!r} is not enabled for generations here; use one of {allowed}"
        raise ApiError(400, "model_not_allowed", message, "model")
    return row.provider, endpoint if row.provider == "sagemaker" else row.ref, row


# --- doing it ---------------------------------------------------------------------------


def generate(request: Request) -> dict:
    """The whole route: parse, validate against the model, generate, store, respond."""
    order = parse(request)
    logs.bind(provider=order.provider, model=order.model)
    if order.provider == "replicate":
        return submit_replicate(request, order)
    if order.provider == "bedrock":
        bedrock.validate(order.row, order.params)
        produced = bedrock.generate(order.row, order.params)
    else:
        sagemaker.validate(order.params)
        produced = sagemaker.generate(order.model, order.params)
    return created(store(order, produced), order.response_format, produced)


def created(job: dict, response_format: str, produced: list[bytes] | None = None, headers: dict | None = None) -> dict:
    """201 with a finished job: our fields and, for the clients people already have, OpenAI's."""
    body = {k: job.get(k) for k in ("id", "status", "provider", "model", "prompt")}
    if job.get("offline"):
        body["offline"] = True
    body |= results.image_fields(job["images"], response_format, produced)
    body["links"] = {"self": f"/v1/jobs/{job['id']}"}
    return json_response(201, body, {"location": body["links"]["self"], **(headers or {})})


def store(order: Order, produced: list[bytes], **extra: Any) -> dict:
    """Put each image under a fresh key and write the job record `succeeded`."""
    job_id = storage.new_job_id()
    when = datetime.now(timezone.utc)
    stored = []
    for n, data in enumerate(produced):
        content_type = images.sniff(data)
        if content_type is None:
            raise ProviderError(f"{order.provider} returned something that is not an image")
        key = storage.image_key(job_id, n, content_type, when)
        if not storage.put_new(key, data, content_type):
            raise RuntimeError(f"image key {key} already exists")  # a fresh uuid4 job id: never
        stored.append({"key": key, "content_type": content_type, "bytes": len(data)})
    p = order.params
    if models_offline():
        extra["offline"] = True
    job = jobs.new_job(
        job_id,
        provider=order.provider,
        model=order.model,
        status="succeeded",
        prompt=p.prompt,
        parameters=p.recorded(),
        images=stored,
        **({"user": order.user} if order.user else {}),
        **({"owner": order.owner} if order.owner else {}),
        **extra,
    )
    return jobs.create(job)


def replicate_input(model: Model, p: Params) -> dict:
    """FLUX's own input names for what the client set (black-forest-labs/flux-*; input schemas on
    replicate.com): an aspect ratio, not width/height; no negative prompt; `guidance` only where the
    row says so. What it cannot take is a 400 naming it."""
    name = model.name
    check_range("n", p.n, 1, model.limit("n", 1), name)
    payload: dict[str, Any] = {"prompt": p.prompt, "num_outputs": p.n}
    if p.width is not None or p.height is not None:
        width, height = p.width or 1024, p.height or 1024
        ratios = tuple(model.limit("aspect_ratios"))
        ratio = nearest_ratio(width, height, ratios)
        if ratio is None:
            raise invalid("size", f"{width}x{height} is not one of {name}'s aspect ratios {', '.join(ratios)}")
        payload["aspect_ratio"] = ratio
    refuse("negative_prompt", p.negative_prompt, name)
    if p.seed is not None:
        payload["seed"] = p.seed
    if p.steps is not None:
        check_range("steps", p.steps, *model.limit("steps"), name)
        payload["num_inference_steps"] = p.steps
    if p.cfg_scale is not None:
        if not model.limit("guidance"):
            refuse("cfg_scale", p.cfg_scale, name)
        check_range("cfg_scale", p.cfg_scale, 0, 10, name)
        payload["guidance"] = p.cfg_scale
    return payload


def nearest_ratio(width: int, height: int, ratios: tuple[str, ...], tolerance: float = 0.05) -> str | None:
    """The ratio closest to width:height if within `tolerance` (relative): 1344x768 is 16:9's ~1 MP size."""
    wanted = width / height
    best = min(ratios, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - wanted))
    w, h = (int(x) for x in best.split(":"))
    return best if abs(w / h - wanted) <= tolerance * (w / h) else None


def submit_replicate(request: Request, order: Order) -> dict:
    try:
        from imagegen import predictions  # the async path's own module (and its httpx import)
    except ImportError:
        raise ApiError(503, "provider_unavailable", "provider: replicate is not available in this build") from None

    model_input = replicate_input(order.row, order.params)  # a 400 here writes nothing
    job_id = storage.new_job_id()
    owner = {"owner": order.owner} if order.owner else {}
    job = jobs.new_job(job_id, provider="replicate", model=order.model, prompt=order.params.prompt, **owner)
    jobs.create(job)
    predictions.submit_prediction(order.model, model_input, job_id, predictions.webhook_url(request))
    wait = waiting.requested(request)
    applied = waiting.applied(wait) if wait is not None else {}
    job = waiting.wait_for([job_id], wait, request.deadline)[0] if wait else jobs.get(job_id)
    if job["status"] == "succeeded":
        return created(job, order.response_format, headers=applied)
    if job["status"] in jobs.TERMINAL:
        raise ApiError(502, "generation_failed", f"the job {job['status']}: {job.get('error') or 'no detail'}")
    body = {k: job.get(k) for k in ("id", "status", "provider", "model", "prompt")}
    body["links"] = {"self": f"/v1/jobs/{job_id}"}
    body |= {"created": int(time.time()), "data": []}
    return json_response(202, body, {"location": body["links"]["self"], **applied})
