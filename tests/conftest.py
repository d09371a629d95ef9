"""Shared test setup: fake AWS credentials (never real ones) and fresh caches per test."""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"

# Tests must never reach a real AWS account, whatever the developer's shell has.
for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "test"
os.environ["AWS_SECRET_ACCESS_KEY"] = "test"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


# CI runs .ci/run with CI=true: there a missing tool or file is a failure, never a skip.
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(module: str):
    """The module, or (a developer's machine without it) a skip; under CI=true a failure, so a run
    that silently left out the browser or ONNX tests can never pass."""
    if not IN_CI:
        return pytest.importorskip(module)
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"{module} is needed under CI (make install installs it): {exc}", pytrace=False)


def clear_caches() -> None:
    """Forget cold-start state (clients, config, secrets) so each test sets its own."""
    from imagegen import aws, catalog, settings

    aws.client.cache_clear()
    # (aws.session() stays: a process has one, as boto3's default session was; tests hook its events)
    aws.secret.cache_clear()
    catalog.names.cache_clear()
    catalog.enabled.cache_clear()
    settings.bucket_name.cache_clear()
    settings.url_expiry_seconds.cache_clear()
    settings.job_timeout_seconds.cache_clear()
    settings.function_memory_mb.cache_clear()
    settings.max_model_calls.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_caches():
    clear_caches()
    yield
    clear_caches()


def load_event(name: str, **overrides) -> dict:
    """An API Gateway payload-2.0 event from tests/events/<name>.json."""
    event = json.loads((EVENTS / f"{name}.json").read_text())
    event.update(overrides)
    return event


def get_event(route_key: str, path: str, **overrides) -> dict:
    """A GET of one of our routes (tests/events/get_job.json with that route key and path, no path
    parameters unless given)."""
    return load_event("get_job", **{"routeKey": route_key, "rawPath": path, "pathParameters": None, **overrides})


class FakeContext:
    """The Lambda context attributes handlers may read."""

    function_name = "test"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
