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

Which provider and models a request may pick is configuration (GENERATE_DEFAULT_PROVIDER,
GENERATE_MODELS, SAGEMAKER_ENDPOINT_NAME); each model checks its own sizes and ranges, and
anything outside them is a 400 whose message starts with the field's name.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any

from imagegen import bedrock, images, jobs, logs, models, parsing, results, sagemaker, storage, waiting
from imagegen.config import ConfigError, env
from imagegen.http import ApiError, Request, json_response
from imagegen.invoke import Params, ProviderError, check_length, check_range, invalid, refuse

log = logging.getLogger("imagegen")

PROVIDERS = ("bedrock", "sagemaker", "replicate")
DEFAULT_MODELS = {"bedrock": ["us.stability.sd3-5-large-v1:0"], "replicate": ["black-forest-labs/flux-schnell"]}
MAX_PROMPT = 10000  # the longest any provider takes; each model then applies its own limit
MAX_N = 4
INT_FIELDS = ("width", "height", "seed", "steps", "n")
# OpenAI's Images API fields we honour; the ones no provider here can honour are refused by name,
# never dropped (style, output_format, background: only their defaults are accepted; quality is
# each model's to map, e.g. Nova Canvas standard/premium, or refuse).
OPENAI_FIELDS = ("size", "response_format", "user", "quality", "style", "output_format", "background")
OPENAI_DEFAULTS = {"style": (), "output_format": ("png",), "background": ("auto",)}
FIELDS = frozenset(
    {"prompt", "message", "negative_prompt", "provider", "model", "cfg_scale", *INT_FIELDS, *OPENAI_FIELDS}
)


@dataclass(frozen=True)
class Settings:
    default_provider: str
    models: dict[str, list[str]] = field(default_factory=dict)
    sagemaker_endpoint: str = ""

    def enabled(self) -> list[str]:
        return [p for p in PROVIDERS if self.allowed(p)]

    def allowed(self, provider: str) -> list[str]:
        """The models a request may pick for `provider`; the first is the default."""
        if provider == "sagemaker":
            return [self.sagemaker_endpoint] if self.sagemaker_endpoint else []
        return self.models.get(provider, [])


@cache
def settings() -> Settings:
    """GENERATE_* settings, checked once per cold start (a ConfigError is not cached)."""
    raw = env("GENERATE_MODELS", "")
    models = {k: list(v) for k, v in DEFAULT_MODELS.items()}
    if raw:
        try:
            configured = json.loads(raw)
        except ValueError:
            raise ConfigError("GENERATE_MODELS is not valid JSON") from None
        if not isinstance(configured, dict) or not set(configured) <= {"bedrock", "replicate"}:
            raise ConfigError('GENERATE_MODELS must be a JSON object {"bedrock": [...], "replicate": [...]}')
        for provider, ids in configured.items():
            if not isinstance(ids, list) or not all(isinstance(i, str) and i.strip() for i in ids):
                raise ConfigError(f"GENERATE_MODELS[{provider!r}] must be a list of model ids")
            models[provider] = [i.strip() for i in ids]
    for model_id in models.get("bedrock", []):
        bedrock.adapter_for(model_id)  # an unknown family is a ConfigError here, at start-up
    result = Settings(env("GENERATE_DEFAULT_PROVIDER", "bedrock"), models, sagemaker.endpoint_name())
    if result.default_provider not in PROVIDERS:
        raise ConfigError(f"GENERATE_DEFAULT_PROVIDER must be one of {', '.join(PROVIDERS)}")
    if not result.allowed(result.default_provider):
        raise ConfigError(f"GENERATE_DEFAULT_PROVIDER is {result.default_provider} but it has no model configured")
    return result


def check_configuration() -> None:
    """Called at cold start: log a misconfiguration once, clearly (requests then get a 503)."""
    try:
        settings()
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
    user = fields.get("user")
    if user is not None and (not isinstance(user, str) or len(user) > 256):
        raise invalid("user", "must be a string of at most 256 characters")
    numbers = {name: parsing.whole_number(name, fields.get(name), from_query) for name in INT_FIELDS}
    n = 1 if numbers["n"] is None else numbers["n"]
    if not 1 <= n <= MAX_N:
        raise invalid("n", f"{n} is outside 1..{MAX_N}")
    for name in ("width", "height", "steps"):
        if numbers[name] is not None and numbers[name] < 1:
            raise invalid(name, f"{numbers[name]} must be a positive whole number")
    if numbers["seed"] is not None and numbers["seed"] < 0:
        raise invalid("seed", f"{numbers['seed']} must not be negative")
    provider, model = pick_model(fields.get("provider"), fields.get("model"))
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
    return Order(provider, model, params, response_format, user, request.owner)


def size_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's `size` ("WxH" or "auto") as our width and height; both forms at once is a 400."""
    width, height = parsing.size(fields.get("size"))
    if width is None:
        return {}
    if fields.get("width") is not None or fields.get("height") is not None:
        raise invalid("size", "send size or width/height, not both")
    return {"width": width, "height": height}


def pick_model(provider: object, model: object) -> tuple[str, str]:
    """(provider, model id): a model (or its alias) picks its own provider when none is named."""
    config = settings()
    model = models.resolve(model)
    if provider in (None, "") and model not in (None, ""):
        provider = next((p for p in config.enabled() if model in config.allowed(p)), None)
    provider = config.default_provider if provider in (None, "") else provider
    if provider not in PROVIDERS:
        raise ApiError(400, "unknown_provider", f"provider: {provider!r} is not one of {', '.join(PROVIDERS)}")
    allowed = config.allowed(provider)
    if not allowed:
        raise ApiError(
            400,
            "provider_not_enabled",
            f"provider: {provider} is not enabled on this deployment; enabled: {', '.join(config.enabled())}",
        )
    if model in (None, ""):
        return provider, allowed[0]
    if model not in allowed:
        raise ApiError(
            400, "model_not_allowed", f"model: {model!r} is not allowed for {provider}; allowed: {', '.join(allowed)}"
        )
    return provider, str(model)


# --- doing it ---------------------------------------------------------------------------


def generate(request: Request) -> dict:
    """The whole route: parse, validate against the model, generate, store, respond."""
    order = parse(request)
    logs.bind(provider=order.provider, model=order.model)
    if order.provider == "replicate":
        return submit_replicate(request, order)
    if order.provider == "bedrock":
        bedrock.validate(order.model, order.params)
        produced = bedrock.generate(order.model, order.params)
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


# FLUX on Replicate (black-forest-labs/flux-*; input schemas on replicate.com): no width/height
# but an aspect ratio, no negative prompt; `guidance` only on dev. Step limits per model.
FLUX_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
FLUX_MAX_STEPS = {"black-forest-labs/flux-schnell": 4, "black-forest-labs/flux-dev": 50}


def replicate_input(model_ref: str, params: Params) -> dict:
    """The model's own input names for what the client set; what it cannot take is a 400 naming it."""
    name = model_ref.partition(":")[0]
    if name.startswith("black-forest-labs/flux"):
        return flux_input(name, params)
    names = {
        "negative_prompt": "negative_prompt",
        "width": "width",
        "height": "height",
        "seed": "seed",
        "steps": "num_inference_steps",
        "cfg_scale": "guidance_scale",
    }
    payload: dict[str, Any] = {"prompt": params.prompt, "num_outputs": params.n}
    for ours, theirs in names.items():
        value = getattr(params, ours)
        if value is not None:
            payload[theirs] = value
    return payload


def nearest_ratio(width: int, height: int, ratios: tuple[str, ...], tolerance: float = 0.05) -> str | None:
    """The ratio closest to width:height if within `tolerance` (relative): 1344x768 is 16:9's ~1 MP size."""
    wanted = width / height
    best = min(ratios, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - wanted))
    w, h = (int(x) for x in best.split(":"))
    return best if abs(w / h - wanted) <= tolerance * (w / h) else None


def flux_input(name: str, p: Params) -> dict:
    payload: dict[str, Any] = {"prompt": p.prompt, "num_outputs": p.n}
    if p.width is not None or p.height is not None:
        width, height = p.width or 1024, p.height or 1024
        ratio = nearest_ratio(width, height, FLUX_RATIOS)
        if ratio is None:
            raise invalid("size", f"{width}x{height} is not one of {name}'s aspect ratios {', '.join(FLUX_RATIOS)}")
        payload["aspect_ratio"] = ratio
    refuse("negative_prompt", p.negative_prompt, name)
    if p.seed is not None:
        payload["seed"] = p.seed
    if p.steps is not None:
        check_range("steps", p.steps, 1, FLUX_MAX_STEPS.get(name, 50), name)
        payload["num_inference_steps"] = p.steps
    if p.cfg_scale is not None:
        if name != "black-forest-labs/flux-dev":
            refuse("cfg_scale", p.cfg_scale, name)
        check_range("cfg_scale", p.cfg_scale, 0, 10, name)
        payload["guidance"] = p.cfg_scale
    return payload


def submit_replicate(request: Request, order: Order) -> dict:
    try:
        from imagegen import predictions  # the async path's own module (and its httpx import)
    except ImportError:
        raise ApiError(503, "provider_unavailable", "provider: replicate is not available in this build") from None

    model_input = replicate_input(order.model, order.params)  # a 400 here writes nothing
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
