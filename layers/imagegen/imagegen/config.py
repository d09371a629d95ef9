"""Settings read from the environment that Terraform (or the local server) sets.

Read lazily and cached: a cold start pays for it once, and a missing variable
fails the first request that needs it with a clear message in the log.
"""

from __future__ import annotations

import os
from functools import cache


class ConfigError(RuntimeError):
    """The deployment is misconfigured: an operator must fix it, not the client."""


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


@cache
def bucket_name() -> str:
    return env("BUCKET_NAME")


@cache
def url_expiry_seconds() -> int:
    return env_int("URL_EXPIRY_SECONDS", 900, 60, 604800)


@cache
def job_timeout_seconds() -> int:
    """How long an async job may take in all (JOB_TIMEOUT_SECONDS): Replicate's deadline for the
    prediction (the Cancel-After header) and the sweeper's limit."""
    return env_int("JOB_TIMEOUT_SECONDS", 3600, 300, 7 * 86400)


def sagemaker_endpoint_name() -> str:
    """The SageMaker endpoint generations may use (SAGEMAKER_ENDPOINT_NAME), or '' when it is off."""
    return env("SAGEMAKER_ENDPOINT_NAME", "")


@cache
def function_memory_mb() -> int:
    """The function's memory (Lambda's own AWS_LAMBDA_FUNCTION_MEMORY_SIZE; 1024 off Lambda)."""
    return env_int("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 1024, 128, 10240)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def http_loopback_allowed(scheme: str, host: str | None) -> bool:
    """Local-only: `http://` to a loopback host (the fake Replicate, LocalStack), with
    REPLICATE_ALLOW_HTTP_LOOPBACK=1 (tests, make serve offline). Production never sets it."""
    return scheme == "http" and host in LOOPBACK_HOSTS and os.environ.get("REPLICATE_ALLOW_HTTP_LOOPBACK") == "1"
