"""Integration tests: real HTTP to the local HTTP API server, real LocalStack behind it.

LocalStack must be running (`make test` starts it). If it is not reachable these
tests ERROR rather than skip, so CI can never pass without having run them.
"""

from __future__ import annotations

import os
import threading
import uuid

import pytest
import requests

from localdev.bucket import ensure_bucket
from localdev.server import LocalApi

ENDPOINT = os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")


@pytest.fixture(scope="session")
def localstack() -> str:
    try:
        health = requests.get(f"{ENDPOINT}/_localstack/health", timeout=5).json()
    except (requests.RequestException, ValueError) as exc:
        pytest.fail(f"LocalStack is not reachable at {ENDPOINT} ({exc}); run `make localstack-up`", pytrace=False)
    if health.get("services", {}).get("s3") not in ("available", "running"):
        pytest.fail(f"LocalStack at {ENDPOINT} has no S3: {health}", pytrace=False)
    return ENDPOINT


@pytest.fixture(scope="session")
def bucket(localstack) -> str:
    """A fresh bucket per test session, set up like Terraform sets up the real one."""
    name = f"imagegen-it-{uuid.uuid4().hex[:12]}"
    ensure_bucket(name)
    os.environ["BUCKET_NAME"] = name
    return name


@pytest.fixture(scope="session")
def api(bucket) -> str:
    """Base URL of a local HTTP API server running every route of functions/routes.json."""
    server = LocalApi(("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    server.shutdown()
    server.server_close()


@pytest.fixture
def s3(bucket):
    import boto3

    return boto3.client("s3")
