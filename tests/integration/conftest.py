"""Integration tests: real HTTP to the local HTTP API server, real LocalStack behind it.

LocalStack must be running (`make test` starts it). If it is not reachable these
tests ERROR rather than skip, so CI can never pass without having run them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from localdev.bucket import ensure_bucket
from localdev.server import LocalApi

ROOT = Path(__file__).resolve().parents[2]
JOB = {"prefer": "respond-async"}  # a client that follows jobs: 202 at once, whatever the model
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
    """Base URL of a local HTTP API server running every route of functions/routes.json, with the queues'
    pollers (the worker and the deliverer, as their event source mappings run them)."""
    from localdev import queues

    server = LocalApi(("127.0.0.1", 0))
    pollers = queues.start_pollers(server.handler_for, queues.ensure(f"imagegen-it-{uuid.uuid4().hex[:8]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.url
    for poller in pollers:
        poller.stop()
    server.shutdown()
    server.server_close()


@pytest.fixture
def s3(bucket):
    import boto3

    return boto3.client("s3")


# -- Replicate (edit, replicate_webhook, generate's Replicate path) ---------------------------------

REPLICATE_ENV = (
    "REPLICATE_API_TOKEN_PARAM",
    "REPLICATE_WEBHOOK_SECRET_PARAM",
    "REPLICATE_BASE_URL",
    "REPLICATE_OUTPUT_HOSTS",
    "REPLICATE_ALLOW_HTTP_LOOPBACK",
    "REPLICATE_EDIT_INPUTS",
    "PUBLIC_BASE_URL",
)


@pytest.fixture(scope="module")
def fake_replicate(bucket, api):
    """The fake Replicate (localdev/fake_replicate.py) with its token and webhook secret in LocalStack SSM.

    Sets the env the edit/webhook functions read, as Terraform would (the secrets as SSM
    SecureString parameter names), and restores it afterwards.
    """
    import boto3

    from localdev.fake_replicate import FakeReplicate

    fake = FakeReplicate("127.0.0.1", 0, delay=0.05).start()
    ssm = boto3.client("ssm")
    prefix = f"/imagegen/it/{uuid.uuid4().hex[:12]}"
    names = {"token": f"{prefix}/replicate-api-token", "secret": f"{prefix}/replicate-webhook-secret"}
    ssm.put_parameter(Name=names["token"], Value=fake.token, Type="SecureString")
    ssm.put_parameter(Name=names["secret"], Value=fake.secret, Type="SecureString")
    saved = {name: os.environ.get(name) for name in REPLICATE_ENV}
    os.environ.update(
        {
            "REPLICATE_API_TOKEN_PARAM": names["token"],
            "REPLICATE_WEBHOOK_SECRET_PARAM": names["secret"],
            "REPLICATE_BASE_URL": fake.url,
            "REPLICATE_OUTPUT_HOSTS": fake.netloc,
            "REPLICATE_ALLOW_HTTP_LOOPBACK": "1",
            "REPLICATE_EDIT_INPUTS": json.dumps({"catacolabs/cartoonify": ["style", "fake"]}),
            # the local server is plain http: webhooks come back to it here, as make serve sets it
            "PUBLIC_BASE_URL": api,
        }
    )
    yield fake
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    ssm.delete_parameters(Names=list(names.values()))
    fake.stop()


@pytest.fixture(scope="session")
def analysis_models(bucket):
    """The demo ONNX models (localdev/demo_models.py) in the bucket, named by ANALYSIS_MODELS."""
    import boto3

    from imagegen.analysis import models as analysis
    from localdev import demo_models

    os.environ["ANALYSIS_MODELS"] = demo_models.install(boto3.client("s3"), bucket, prefix="models/it")
    analysis.model.cache_clear()
    yield
    analysis.model.cache_clear()


# -- make serve, as a user runs it (the playground, the contract, the CLI) -------------------------


@dataclass
class Served:
    url: str
    key: str  # an API key minted for this server (it runs with AUTH=api_key, as deployed)
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def served(bucket, tmp_path_factory) -> Served:
    """`make serve AUTH=api_key` in its own process (the command the Makefile runs), on a free port,
    with the offline fakes it starts itself, and an API key minted into its bucket."""
    from imagegen import apikeys

    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "BUCKET_NAME": bucket, "IMAGEGEN_FAKE_REPLICATE_DELAY": "3", "PYTHONUNBUFFERED": "1"}
    env["RATE_WINDOW_SECONDS"] = "2"  # a key's requests-per-minute window, shortened so a test can wait it out
    for name in REPLICATE_ENV:  # make serve starts its own fake Replicate
        env.pop(name, None)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "localdev.serve", "--port", str(port), "--auth", "api_key"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"make serve exited with {process.returncode}:\n{log.read_text()[-3000:]}", pytrace=False)
        try:
            if requests.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.3)
    else:
        process.kill()
        pytest.fail(f"make serve did not answer within 90 s:\n{log.read_text()[-3000:]}", pytrace=False)
    key, _ = apikeys.mint("served-tests")
    yield Served(url, key, log)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
