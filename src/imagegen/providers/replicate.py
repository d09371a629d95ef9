"""Replicate, asynchronous: submit a prediction with a webhook and return at once.

Nothing here waits on a GPU. `submit_prediction` creates the prediction with
`webhook=<our webhook route>?job_id=<job id>` and `webhook_events_filter=["completed"]`,
records the prediction id on the job (or marks the job failed with the reason) and returns.
The webhook function stores the result when Replicate calls back (imagegen.jobs.outputs); jobs.run
records the prediction on its job. This module knows Replicate's wire format only: the client, a
model's input names (from its catalog row), what Replicate's errors mean.

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
from imagegen.errors import check_output_format, check_range, invalid, refuse
from imagegen.orders import Params

log = logging.getLogger("imagegen")

# Replicate answers a create in well under a second; API Gateway ends every request at 30 s.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
# Our job status for a just-created prediction's status.
STATUS = {"starting": "queued", "processing": "running"}
# Replicate's final prediction statuses (aborted: its deadline passed before it could start).
FINAL_STATUSES = ("succeeded", "failed", "canceled", "aborted")


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name[:version]` -> ("owner/name", version or None); ValueError if malformed."""
    model, colon, version = ref.strip().partition(":")
    owner, _, name = model.partition("/")
    if not owner or not name or "/" in name or (colon and not version):
        raise ValueError(f"{ref!r} is not owner/name or owner/name:version")
    return model, version or None


def job_webhook_url(webhook_base: str, job_id: str) -> str:
    """The webhook URL for one job: Replicate calls it back with our job id in the query string."""
    separator = "&" if "?" in webhook_base else "?"
    return f"{webhook_base}{separator}job_id={quote(job_id)}"


def client() -> Any:
    """A replicate.Client for REPLICATE_BASE_URL with the token from SSM (both read once per cold start)."""
    return _client(aws.secret(settings.replicate_token_parameter()), settings.replicate_base_url())


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


def create(model_ref: str, input: dict, webhook: str) -> dict:
    """POST the prediction to Replicate and return its JSON (`id`, `status`, `urls`, ...)."""
    model, version = parse_model_ref(model_ref)
    options = {"input": input, "webhook": webhook, "webhook_events_filter": ["completed"]}
    replicate_client = client()
    if version:
        prediction = replicate_client.predictions.create(version=version, **options)
    else:
        prediction = replicate_client.models.predictions.create(model=model, **options)
    return as_dict(prediction)


def as_dict(prediction: Any) -> dict:
    """A prediction as Replicate's JSON (the client's Resource is pydantic v1-style or v2, by installed pydantic)."""
    dump = getattr(prediction, "model_dump", None) or prediction.dict
    return json.loads(json.dumps(dump(), default=str))


def get(prediction_id: str) -> dict:
    """`GET /v1/predictions/{id}`: the prediction as Replicate has it now (the sweeper's question).

    Read as Replicate's JSON, not through the SDK's Prediction model: replicate 1.0.7 refuses any
    status it does not list, and Replicate has since added `aborted` (changelog 2025-10-16)."""
    return client()._request("GET", f"/v1/predictions/{quote(prediction_id)}").json()


def cancel(prediction_id: str) -> dict:
    """`POST /v1/predictions/{id}/cancel`: stop it (and its billing); Replicate answers with the prediction."""
    return client()._request("POST", f"/v1/predictions/{quote(prediction_id)}/cancel").json()


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
