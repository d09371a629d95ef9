"""Every setting, read from the environment Terraform (or the local server) sets: the only reader of it.

One function per setting, named for it, with its default and its range written here once; read at
first use and cached, so a cold start pays once and a missing or malformed variable fails the first
request that needs it with a ConfigError (a 503, and a clear line in the log). Settings that are JSON
(ANALYSIS_MODELS, MODEL_ALIASES, REPLICATE_EDIT_INPUTS) go through one parser, `json_setting`.
`logs` reads Lambda's own variables (AWS_LAMBDA_*) itself; nothing else touches os.environ.
"""

from __future__ import annotations

import json
import os
from functools import cache
from typing import Any

from imagegen.errors import ConfigError


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f"environment variable {name} is not set")
    return default


def env_int(name: str, default: int, low: int, high: int) -> int:
    raw = env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def flag(name: str) -> bool:
    return os.environ.get(name, "") == "1"


def json_setting(name: str, default: str | None, kind: type, shape: str) -> Any:
    """A setting holding JSON of type `kind`; `shape` says what it must look like when it does not."""
    try:
        value = json.loads(env(name, default))
    except ValueError:
        raise ConfigError(f"{name} is not valid JSON; it must be {shape}") from None
    if not isinstance(value, kind):
        raise ConfigError(f"{name} must be {shape}")
    return value


# -- the deployment ------------------------------------------------------------------------------


def log_level() -> str:
    return env("LOG_LEVEL", "INFO").upper()


def metrics_namespace() -> str:
    return env("METRICS_NAMESPACE", "imagegen")


def emf_off_lambda() -> bool:
    """Write metric lines off Lambda too (IMAGEGEN_EMF=1: make serve, the bench)."""
    return flag("IMAGEGEN_EMF")


@cache
def bucket_name() -> str:
    return env("BUCKET_NAME")


@cache
def url_expiry_seconds() -> int:
    return env_int("URL_EXPIRY_SECONDS", 900, 60, 604800)


@cache
def function_memory_mb() -> int:
    """The function's memory (Lambda's own AWS_LAMBDA_FUNCTION_MEMORY_SIZE; 1024 off Lambda)."""
    return env_int("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 1024, 128, 10240)


def public_base_url() -> str:
    """The API's public URL for Replicate's callbacks (PUBLIC_BASE_URL); '' = the request's own."""
    return env("PUBLIC_BASE_URL", "").rstrip("/")


def default_response_format() -> str:
    """What a request without response_format (and not naming a GPT image model) gets: url or b64_json."""
    value = env("DEFAULT_RESPONSE_FORMAT", "url")
    if value not in ("url", "b64_json"):
        raise ConfigError(f"DEFAULT_RESPONSE_FORMAT must be url or b64_json, got {value!r}")
    return value


@cache
def max_model_calls() -> int:
    """Billed model calls one request may make (images x n); Terraform api.max_model_calls."""
    return env_int("MAX_MODEL_CALLS", 32, 1, 32)


def rate_window_seconds() -> int:
    """The window a key's requests-per-minute limit counts in: a minute (tests shorten it)."""
    return env_int("RATE_WINDOW_SECONDS", 60, 1, 3600)


def prefer_wait_max_seconds() -> int:
    return env_int("PREFER_WAIT_MAX_SECONDS", 20, 0, 29)


# -- models --------------------------------------------------------------------------------------


def function_models(function: str) -> list[str]:
    """Catalog names the function may use ({FUNCTION}_MODELS, e.g. GENERATE_MODELS); [] = the catalog's defaults."""
    return env_list(f"{function.upper()}_MODELS")


def model_aliases() -> dict[str, str]:
    return json_setting("MODEL_ALIASES", "{}", dict, 'a JSON object {"alias": "catalog name"}')


def sagemaker_endpoint_name() -> str:
    """The SageMaker endpoint generations may use (SAGEMAKER_ENDPOINT_NAME), or '' when it is off."""
    return env("SAGEMAKER_ENDPOINT_NAME", "")


def models_offline() -> bool:
    """True when Bedrock/SageMaker are the local fakes (make serve without an AWS account)."""
    return flag("IMAGEGEN_MODELS_OFFLINE")


# -- providers -----------------------------------------------------------------------------------


def bedrock_read_timeout() -> int:
    return env_int("BEDROCK_READ_TIMEOUT", 25, 1, 900)


def replicate_base_url() -> str:
    return env("REPLICATE_BASE_URL", "https://api.replicate.com")


def replicate_token_parameter() -> str:
    """The SSM parameter holding Replicate's API token (its name only; the value never is in the environment)."""
    return env("REPLICATE_API_TOKEN_PARAM")


def webhook_secret_parameter() -> str:
    """The SSM parameter holding the webhook signing secret (whsec_...)."""
    return env("REPLICATE_WEBHOOK_SECRET_PARAM")


def replicate_offline() -> bool:
    """True when REPLICATE_BASE_URL is the local fake (make serve without a token); job records say so."""
    return flag("IMAGEGEN_REPLICATE_OFFLINE")


def replicate_edit_inputs() -> dict[str, list]:
    """Model inputs clients may set, per Replicate model (REPLICATE_EDIT_INPUTS: {"owner/name": [...]})."""
    table = json_setting("REPLICATE_EDIT_INPUTS", "{}", dict, '{"owner/name": ["input", ...]}')
    if not all(isinstance(v, list) for v in table.values()):
        raise ConfigError('REPLICATE_EDIT_INPUTS must be {"owner/name": ["input", ...]}')
    return table


def replicate_output_hosts() -> list[str]:
    return [host.lower() for host in env_list("REPLICATE_OUTPUT_HOSTS", "replicate.delivery,*.replicate.delivery")]


def max_output_bytes() -> int:
    return env_int("MAX_OUTPUT_BYTES", 25 * 1024 * 1024, 1024, 1024 * 1024 * 1024)


# -- jobs ----------------------------------------------------------------------------------------


@cache
def job_timeout_seconds() -> int:
    """How long an async job may take in all (JOB_TIMEOUT_SECONDS): Replicate's deadline for the
    prediction (the Cancel-After header) and the sweeper's limit."""
    return env_int("JOB_TIMEOUT_SECONDS", 3600, 300, 7 * 86400)


def sweeper_after_seconds() -> int:
    return env_int("SWEEPER_AFTER_SECONDS", 300, 60, 86400)


# -- analysis ------------------------------------------------------------------------------------


def analysis_models() -> dict[str, dict]:
    shape = '{"classification"|"detection": {"key": "models/...onnx", ...}}'
    table = json_setting("ANALYSIS_MODELS", None, dict, shape)
    if not all(isinstance(row, dict) and row.get("key") for row in table.values()):
        raise ConfigError(f"ANALYSIS_MODELS must be {shape}")
    return table


# -- local only ----------------------------------------------------------------------------------

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def http_loopback_allowed(scheme: str, host: str | None) -> bool:
    """Local-only: `http://` to a loopback host (the fake Replicate, LocalStack), with
    REPLICATE_ALLOW_HTTP_LOOPBACK=1 (tests, make serve offline). Production never sets it."""
    return scheme == "http" and host in LOOPBACK_HOSTS and flag("REPLICATE_ALLOW_HTTP_LOOPBACK")


def aws_region() -> str:
    """The region the function runs in (Lambda sets AWS_REGION; elsewhere AWS_DEFAULT_REGION)."""
    return os.environ.get("AWS_REGION") or env("AWS_DEFAULT_REGION", "us-east-1")


def local_image_origin() -> str:
    """make serve only: the origin its presigned image URLs have (LocalStack's), for the page's CSP."""
    return env("IMAGEGEN_IMAGE_ORIGIN", "")


def fetch_loopback_allowed() -> bool:
    """Tests and make serve only: URL images from this machine (IMAGEGEN_FETCH_ALLOW_LOOPBACK=1)."""
    return flag("IMAGEGEN_FETCH_ALLOW_LOOPBACK")


# -- jobs for every model, webhooks to the caller -------------------------------------------------


def work_queues() -> dict[str, str]:
    """The SQS queue of each model that answers now (WORK_QUEUES, JSON {"catalog name": "queue url"}):
    `Prefer: respond-async` jobs wait there for the worker; a model without one cannot be queued."""
    return json_setting("WORK_QUEUES", "{}", dict, 'a JSON object {"catalog name": "queue url"}')


def model_quotas() -> dict[str, int]:
    """The account's request quota per minute of each model (MODEL_QUOTAS, JSON {"catalog name": n}),
    where the operator knows it: what a 429's Retry-After is computed from."""
    return json_setting("MODEL_QUOTAS", "{}", dict, 'a JSON object {"catalog name": requests per minute}')


def delivery_queue_url() -> str:
    """The queue of webhook deliveries to callers (DELIVERY_QUEUE_URL); '' when webhooks are off."""
    return env("DELIVERY_QUEUE_URL", "")


def delivery_dead_letter_url() -> str:
    """Where a delivery goes after its last attempt (DELIVERY_DEAD_LETTER_URL)."""
    return env("DELIVERY_DEAD_LETTER_URL", "")


def webhook_loopback_allowed() -> bool:
    """make serve only: webhooks to http://127.0.0.1 receivers (IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK=1), so a
    developer's own receiver works; Terraform never sets it."""
    return flag("IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK")


# Standard Webhooks' retry schedule: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
WEBHOOK_RETRY_SECONDS = "0,5,300,1800,7200,18000,36000,36000"


def webhook_retry_seconds() -> list[float]:
    """Seconds before each delivery attempt after the one before (WEBHOOK_RETRY_SECONDS; tests shorten it)."""
    raw = env("WEBHOOK_RETRY_SECONDS", WEBHOOK_RETRY_SECONDS)
    try:
        found = [float(part) for part in raw.split(",")]
    except ValueError:
        raise ConfigError(f"WEBHOOK_RETRY_SECONDS must be comma-separated seconds, got {raw!r}") from None
    if not found or not all(0 <= value <= 86400 for value in found):
        raise ConfigError("WEBHOOK_RETRY_SECONDS: each wait is 0..86400 seconds")
    return found
