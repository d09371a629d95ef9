"""The local stand-ins the runtime benches share: a fresh LocalStack bucket, the fake Replicate
(accept-only: the bench plays Replicate's webhook itself, so it times the handler alone) with its
token and secret in LocalStack SSM, the env Terraform would set, and API Gateway 2.0 events."""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import os
import uuid
from collections.abc import Iterator

from bench import ROOT

os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for path in (str(ROOT / "src"), str(ROOT)):
    if path not in os.sys.path:
        os.sys.path.insert(0, path)

PUBLIC_BASE_URL = "https://bench.execute-api.us-east-1.amazonaws.com"


def load_handler(function: str):
    """functions/<function>/handler.py as a module of its own (as each Lambda has it)."""
    spec = importlib.util.spec_from_file_location(f"bench_{function}", ROOT / "functions" / function / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def event(method: str, path: str, route: str, body: bytes | str = b"", headers=None, query=None, params=None) -> dict:
    raw = body.encode() if isinstance(body, str) else body
    return {
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "headers": {"content-type": "application/json", **(headers or {})},
        "queryStringParameters": query,
        "pathParameters": params,
        "requestContext": {
            "domainName": "bench.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path},
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
        },
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }


def png_bytes(size: int) -> bytes:
    """A real PNG (the fake's renderer) padded after IEND to `size` bytes: sniffs as image/png."""
    from localdev.fake_replicate import render

    image = render(b"bench")
    return image + b"\0" * max(0, size - len(image))


@contextlib.contextmanager
def replicate_env(latency: float = 0.0, bandwidth: float | None = None) -> Iterator:
    """A bucket, the fake Replicate (not delivering) and the env; yields the fake."""
    import boto3

    from localdev.bucket import ensure_bucket
    from localdev.fake_replicate import FakeReplicate

    bucket = f"imagegen-bench-{uuid.uuid4().hex[:10]}"
    ensure_bucket(bucket)
    fake = FakeReplicate("127.0.0.1", 0, deliver=False).start()
    fake.handle_error = lambda *_: None  # clients dropping idle keep-alive connections is not news
    fake.latency, fake.bandwidth = latency, bandwidth
    ssm = boto3.client("ssm")
    prefix = f"/imagegen/bench/{uuid.uuid4().hex[:10]}"
    names = {"token": f"{prefix}/replicate-api-token", "secret": f"{prefix}/replicate-webhook-secret"}
    ssm.put_parameter(Name=names["token"], Value=fake.token, Type="SecureString")
    ssm.put_parameter(Name=names["secret"], Value=fake.secret, Type="SecureString")
    settings = {
        "BUCKET_NAME": bucket,
        "REPLICATE_API_TOKEN_PARAM": names["token"],
        "REPLICATE_WEBHOOK_SECRET_PARAM": names["secret"],
        "REPLICATE_BASE_URL": fake.url,
        "REPLICATE_OUTPUT_HOSTS": fake.netloc,
        "REPLICATE_ALLOW_HTTP_LOOPBACK": "1",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "MAX_OUTPUT_BYTES": str(256 * 1024 * 1024),
    }
    try:
        with environment(settings):
            clear_caches()
            yield fake
    finally:
        clear_caches()
        ssm.delete_parameters(Names=list(names.values()))
        fake.stop()
        empty_bucket(bucket)


@contextlib.contextmanager
def environment(settings: dict[str, str], also: tuple[str, ...] = ()) -> Iterator[None]:
    """os.environ with `settings` set; afterwards as it was, those and the names in `also` (what the code
    run inside sets itself) too."""
    saved = {name: os.environ.get(name) for name in (*settings, *also)}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def clear_caches() -> None:
    """Cached settings (bucket name, secrets, clients) belong to one environment."""
    from imagegen import aws, settings
    from imagegen.providers import replicate

    for func in (settings.bucket_name, aws.secret, replicate._client):
        func.cache_clear()


def empty_bucket(bucket: str) -> None:
    import boto3

    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=bucket)


def edit_event(count: int = 1, size: int = 2048) -> dict:
    images = [base64.b64encode(png_bytes(size + n)).decode() for n in range(count)]
    body = {"image": images[0] if count == 1 else images}
    return event("POST", "/v1/images/edits", "POST /v1/images/edits", json.dumps(body))


def webhook_event(fake, job_id: str, prediction_id: str, output: bytes) -> dict:
    """Replicate's completed webhook for a prediction, signed; its output served by the fake."""
    from localdev.fake_replicate import signed_headers

    url = f"{fake.url}/delivery/{prediction_id}/out-0.png"
    fake.outputs[url] = output
    body = json.dumps({"id": prediction_id, "status": "succeeded", "output": url, "error": None, "metrics": {}})
    return event(
        "POST",
        "/v1/webhooks/replicate",
        "POST /v1/webhooks/replicate",
        body,
        headers=signed_headers(fake.secret, body),
        query={"job_id": job_id},
    )
