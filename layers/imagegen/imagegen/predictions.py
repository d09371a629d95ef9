"""Replicate, asynchronous: submit a prediction with a webhook and return at once.

Nothing here waits on a GPU. `submit_prediction` creates the prediction with
`webhook=<our webhook route>?job_id=<job id>` and `webhook_events_filter=["completed"]`,
records the prediction id on the job (or marks the job failed with the reason) and returns.
The webhook function (imagegen.webhooks) stores the result when Replicate calls back.

The `replicate` package (and httpx, pydantic under it) is imported inside the functions that
call Replicate, so functions that never submit (get_job, the webhook) never pay for it.

Model references are `owner/name` (the model's latest version, through
`POST /v1/models/{owner}/{name}/predictions`) or `owner/name:version` (that exact version,
through `POST /v1/predictions`).
"""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from imagegen import config, jobs, secrets
from imagegen.config import ConfigError, env
from imagegen.http import ApiError, Request

log = logging.getLogger("imagegen")

DEFAULT_BASE_URL = "https://api.replicate.com"
WEBHOOK_PATH = "/v1/webhooks/replicate"
# Replicate answers a create in well under a second; API Gateway ends every request at 30 s.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
# Our job status for a just-created prediction's status.
_STATUS = {"starting": "queued", "processing": "running"}


class SubmitFailed(ApiError):
    """Replicate refused the prediction (502) or could not be reached (503); the job is marked failed."""

    def __init__(self, status: int, code: str, message: str, job: dict | None = None):
        super().__init__(status, code, message)
        self.job = job


def offline() -> bool:
    """True when REPLICATE_BASE_URL is the local fake (make serve without a token); job records say so."""
    return os.environ.get("IMAGEGEN_REPLICATE_OFFLINE", "") == "1"


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name[:version]` -> ("owner/name", version or None); ValueError if malformed."""
    model, colon, version = ref.strip().partition(":")
    owner, _, name = model.partition("/")
    if not owner or not name or "/" in name or (colon and not version):
        raise ValueError(f"{ref!r} is not owner/name or owner/name:version")
    return model, version or None


def webhook_url(request: Request) -> str:
    """The absolute URL of our webhook route: PUBLIC_BASE_URL if set, else the request's domain and stage."""
    base = os.environ.get("PUBLIC_BASE_URL", "").strip().rstrip("/")
    if not base:
        if not request.domain:
            raise ConfigError("cannot build the webhook URL: no PUBLIC_BASE_URL and no domain in the request")
        base = request.base_url()
    return base + WEBHOOK_PATH


def job_webhook_url(webhook_base: str, job_id: str) -> str:
    """The webhook URL for one job: Replicate calls it back with our job id in the query string."""
    separator = "&" if "?" in webhook_base else "?"
    return f"{webhook_base}{separator}job_id={quote(job_id)}"


def client() -> Any:
    """A replicate.Client for REPLICATE_BASE_URL with the token from SSM (both read once per cold start)."""
    return _client(secrets.parameter("REPLICATE_API_TOKEN_PARAM"), env("REPLICATE_BASE_URL", DEFAULT_BASE_URL))


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
                request.headers["Cancel-After"] = f"{config.job_timeout_seconds()}s"
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


def submit_prediction(model_ref: str, input: dict, job_id: str, webhook_url: str) -> dict:
    """Create a prediction for an existing job (jobs.create first) that calls back `webhook_url`.

    On success the job record gets `prediction_id` (and `offline: true` against the fake) and the
    prediction's JSON is returned. If Replicate refuses it or cannot be reached, the job is
    recorded `failed` with the reason and SubmitFailed (an ApiError: 502/503) is raised, so
    nothing is left half-written.
    """
    try:
        prediction = create(model_ref, input, job_webhook_url(webhook_url, job_id))
    except ConfigError:
        jobs.update(job_id, lambda job: {**job, "status": "failed", "error": "the service is not configured"})
        raise
    except Exception as exc:
        status, code, message = describe_error(exc)
        log.warning("job %s: replicate submit failed: %s", job_id, message)
        job = jobs.update(job_id, lambda job: {**job, "status": "failed", "error": message})
        raise SubmitFailed(status, code, message, job) from None

    def record(job: dict) -> dict:
        job["prediction_id"] = prediction.get("id")
        job["status"] = _STATUS.get(prediction.get("status", ""), job["status"])
        if offline():
            job["offline"] = True
        return job

    jobs.update(job_id, record)
    log.info("job %s: prediction %s submitted to %s", job_id, prediction.get("id"), model_ref)
    return prediction
