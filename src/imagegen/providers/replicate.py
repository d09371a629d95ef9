"""Replicate, the provider that answers later (imagegen.providers.contract): submit a prediction with a
webhook and return at once.

Nothing here waits on a GPU. `submit` creates the prediction with the webhook jobs/ names and
`webhook_events_filter=["completed"]`; the webhook function stores the result when Replicate calls
back (imagegen.jobs.outputs). This module knows Replicate's wire format only: the client, a model's
input names (from its catalog row), its prediction statuses and what its errors mean, in our words.

The `replicate` package (and httpx, pydantic under it) is imported inside the functions that
call Replicate, so functions that never submit (get_job, the webhook) never pay for it.

Model references are `owner/name` (the model's latest version, through
`POST /v1/models/{owner}/{name}/predictions`) or `owner/name:version` (that exact version,
through `POST /v1/predictions`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from imagegen import aws, settings
from imagegen.catalog import Model
from imagegen.errors import bad_request, check_output_format, check_range, invalid, refuse
from imagegen.orders import Params
from imagegen.providers.contract import Prediction

log = logging.getLogger("imagegen")

# Replicate answers a create in well under a second; API Gateway ends every request at 30 s.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
ANSWERS = "later"  # imagegen.providers.contract
# Replicate's prediction statuses in our words (aborted: its deadline passed before it could start).
STATUS = {
    "starting": "queued",
    "processing": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
    "aborted": "failed",
}


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name[:version]` -> ("owner/name", version or None); ValueError if malformed."""
    model, colon, version = ref.strip().partition(":")
    owner, _, name = model.partition("/")
    if not owner or not name or "/" in name or (colon and not version):
        raise ValueError(f"{ref!r} is not owner/name or owner/name:version")
    return model, version or None


def client() -> Any:
    """A replicate.Client for REPLICATE_BASE_URL with the token from SSM (both read once per cold start)."""
    return _client(aws.secret(settings.replicate_token_parameter()), settings.replicate_base_url())


def ready() -> None:
    """The token read from SSM (a ConfigError when it cannot be) before a request writes anything."""
    client()


@lru_cache(maxsize=4)
def _client(token: str, base_url: str) -> Any:
    import httpx
    import replicate

    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)

    class TimeoutTransport(httpx.HTTPTransport):
        """Our timeout on every request: replicate's predictions.create sends `timeout=None` per
        request (unless it is asked to wait), which disables the client's timeout, so a Replicate
        that hangs would hold the Lambda until API Gateway gives up with the job left queued.
        And a deadline on every prediction we create (`Cancel-After`, Replicate changelog
        2025-10-16, which the SDK does not send): past the job's timeout Replicate ends it, `aborted`
        if it never started (and is not billed), `canceled` if it did."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            request.extensions["timeout"] = timeout.as_dict()
            if request.method == "POST" and request.url.path.endswith("/predictions"):
                request.headers["Cancel-After"] = f"{settings.job_timeout_seconds()}s"
            return super().handle_request(request)

    return replicate.Client(api_token=token, base_url=base_url, timeout=timeout, transport=TimeoutTransport())


def submit(model_ref: str, input: dict, webhook: str) -> Prediction:
    """POST the prediction to Replicate with `webhook` called when it completes."""
    model, version = parse_model_ref(model_ref)
    options = {"input": input, "webhook": webhook, "webhook_events_filter": ["completed"]}
    replicate_client = client()
    if version:
        prediction = replicate_client.predictions.create(version=version, **options)
    else:
        prediction = replicate_client.models.predictions.create(model=model, **options)
    return as_prediction(as_dict(prediction))


def as_dict(prediction: Any) -> dict:
    """A prediction as Replicate's JSON (the client's Resource is pydantic v1-style or v2, by installed pydantic)."""
    dump = getattr(prediction, "model_dump", None) or prediction.dict
    return json.loads(json.dumps(dump(), default=str))


def read(prediction_id: str) -> Prediction:
    """`GET /v1/predictions/{id}`: the prediction as Replicate has it now (the sweeper's question).

    Read as Replicate's JSON, not through the SDK's Prediction model: replicate 1.0.7 refuses any
    status it does not list, and Replicate has since added `aborted` (changelog 2025-10-16)."""
    return as_prediction(client()._request("GET", f"/v1/predictions/{quote(prediction_id)}").json())


def cancel(prediction_id: str) -> Prediction:
    """`POST /v1/predictions/{id}/cancel`: stop it (and its billing); Replicate answers with the prediction."""
    return as_prediction(client()._request("POST", f"/v1/predictions/{quote(prediction_id)}/cancel").json())


def as_prediction(raw: object) -> Prediction:
    """Replicate's prediction JSON (an API answer or a webhook's body) in our words; a 400 when it is
    not one. A succeeded prediction whose outputs Replicate removed (`data_removed`) or whose `output`
    is not URLs is failed here, saying why: there is nothing to fetch."""
    if not isinstance(raw, dict) or not isinstance(raw.get("status"), str):
        raise bad_request("invalid_prediction", "the body is not a Replicate prediction object")
    status, prediction_id = raw["status"], raw.get("id")
    if status not in STATUS:
        raise bad_request("invalid_status", f"unknown prediction status {status[:50]!r}")
    metrics = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
    found = {"id": prediction_id if isinstance(prediction_id, str) else None, "metrics": metrics}
    if status == "succeeded":
        if raw.get("data_removed"):
            message = "Replicate removed the prediction's outputs (data_removed) before they could be stored"
            return Prediction(**found, status="failed", error=message, error_code="output_removed")
        urls = output_urls(raw.get("output"))
        if not urls:
            message = "the prediction succeeded with no output URL (its output is not a URL or a list of URLs)"
            return Prediction(**found, status="failed", error=message, error_code="invalid_output")
        return Prediction(**found, status="succeeded", outputs=tuple(urls))
    if status == "aborted":
        error = "the prediction was aborted: its deadline (the job timeout) passed before Replicate could start it"
        return Prediction(**found, status="failed", error=error, error_code="aborted")
    error = raw.get("error") or (f"the prediction was {status}" if status in ("failed", "canceled") else None)
    return Prediction(**found, status=STATUS[status], error=None if error is None else str(error)[:2000])


def output_urls(output: Any) -> list[str]:
    """The file URLs in a prediction's `output`: a URL, a list of URLs (nested lists flattened); [] else."""
    if isinstance(output, str):
        return [output]
    if isinstance(output, list):
        found = [output_urls(item) for item in output]
        return [] if any(not urls for urls in found) else [url for urls in found for url in urls]
    return []


def describe_error(exc: Exception) -> tuple[int, str, str]:
    """(status, code, message) for an exception from the replicate client, by what it means; no secrets.

    Replicate's 422 (the input) is the client's to fix: 422 with Replicate's detail. Its 429 is a 429
    (with retry-after). 401/402/403 are our token or our billing: 503, and an error in the log for
    the operator. Replicate's 5xx is a 502, a timeout a 504, no connection at all a 503.
    """
    from replicate.exceptions import ReplicateError

    if isinstance(exc, ReplicateError):
        detail = (exc.detail or exc.title or "no detail")[:400]
        if exc.status == 422:
            return 422, "provider_rejected", f"replicate refused the input: {detail}"
        if exc.status == 429:
            return 429, "throttled", "replicate is throttling our requests; retry after a short wait"
        if exc.status in (401, 402, 403):
            log.error("replicate answered %s (%s): check the API token and the account's billing", exc.status, detail)
            return 503, "provider_unavailable", "replicate is not available to this deployment right now"
        if exc.status and exc.status >= 500:
            return 502, "provider_error", f"replicate failed ({exc.status})"
        return 502, "provider_rejected", f"replicate refused the prediction ({exc.status}): {detail}"
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return 504, "provider_timeout", "replicate did not answer in time"
    if isinstance(exc, httpx.HTTPError):
        return 503, "provider_unavailable", f"replicate is unreachable ({type(exc).__name__})"
    if isinstance(exc, ValueError):  # the client's own checks (model reference, response shape)
        return 502, "provider_rejected", f"replicate request not possible: {exc}"[:500]
    raise exc


# -- a model's inputs, from its catalog row -------------------------------------------------------


def validate(model: Model, p: Params) -> None:
    """What the model cannot honour is a 400 naming the field, before anything is written."""
    if p.task == "generate":
        if p.quality not in (None, "standard"):
            raise invalid("quality", f"{p.quality[:40]!r} cannot be honoured by {model.name} here; leave it out")
        generation_input(model, p)
        return
    if p.prompt and not model.takes("prompt"):
        raise invalid("prompt", f"{model.name} takes no prompt; leave it out or pick a model that does")
    if model.requires("prompt") and not p.prompt.strip():
        raise invalid("prompt", f"{model.name} needs a prompt")
    if p.mask is not None and not model.takes("mask"):
        raise invalid("mask", f"{model.name} takes no mask; pick an inpainting model")
    if model.requires("mask") and p.mask is None:
        raise invalid("mask", f"{model.name} needs a mask: a PNG whose transparent pixels mark the area to edit")
    if p.strength is not None:
        raise invalid("strength", f"{model.name} has no strength setting here; leave it out")
    output_input(model, p)  # a format or compression the model cannot make


def prediction_input(
    model: Model, p: Params, image: str | None = None, mask: str | None = None, overrides: dict | None = None
) -> dict[str, Any]:
    """The prediction's input: a generation's, or an edit of `image` (a URL Replicate fetches, as is
    `mask`) with the client's allowed `overrides`."""
    if p.task == "generate":
        return generation_input(model, p)
    return edit_input(model, overrides or {}, image or "", p.prompt or None, mask, p)


def generation_input(model: Model, p: Params) -> dict:
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
    return payload | output_input(model, p)


def output_input(model: Model, p: Params) -> dict[str, Any]:
    """OpenAI's output_format and output_compression as the model's own inputs (FLUX: output_format
    webp/jpg/png, output_quality 0-100), where its row lists the format (else a 400 naming the field);
    a model without output_quality has its outputs encoded again at that quality when they are stored."""
    payload: dict[str, Any] = {}
    if p.output_format is not None:
        wanted = {"jpeg": "jpg"}.get(p.output_format, p.output_format)
        check_output_format(wanted, model.output_formats, model.name, p.output_format)
        payload["output_format"] = wanted
    if p.compression not in (None, 100) and model.limit("output_quality"):
        payload["output_quality"] = p.compression  # else its outputs are encoded again (jobs.outputs)
    return payload


def nearest_ratio(width: int, height: int, ratios: tuple[str, ...], tolerance: float = 0.05) -> str | None:
    """The ratio closest to width:height if within `tolerance` (relative): 1344x768 is 16:9's ~1 MP size."""
    wanted = width / height
    best = min(ratios, key=lambda r: abs(int(r.split(":")[0]) / int(r.split(":")[1]) - wanted))
    w, h = (int(x) for x in best.split(":"))
    return best if abs(w / h - wanted) <= tolerance * (w / h) else None


@dataclass(frozen=True)
class Form:
    """A Replicate edit model's input names for the image, the prompt and the mask (None: it has none).
    Its mask, like Stability's, is white where the image is repainted."""

    image: str = "image"
    prompt: str | None = None
    mask: str | None = None

    def inputs(self) -> set[str]:
        return {name for name in (self.image, self.prompt, self.mask) if name}


def input_names(model: Model) -> set[str]:
    """The inputs the request's image, prompt and mask fill (a client's `input` may not set them)."""
    return form(model).inputs()


def form(model: Model) -> Form:
    """How the Replicate model takes its inputs, from its catalog row."""
    inputs = model.inputs
    return Form(image=inputs.get("image", "image"), prompt=inputs.get("prompt"), mask=inputs.get("mask"))


def edit_input(
    model: Model, overrides: dict, image: str, prompt: str | None, mask_url: str | None, p: Params
) -> dict[str, Any]:
    """An edit's input: the client's allowed overrides, then the image, prompt and mask under the model's
    names, and the output format asked for."""
    names = form(model)
    payload = {**overrides, names.image: image, **output_input(model, p)}
    if prompt is not None and names.prompt:
        payload[names.prompt] = prompt
    if mask_url and names.mask:
        payload[names.mask] = mask_url
    return payload
