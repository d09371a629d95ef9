"""Sync overhead: POST /v1/images/generations through the local HTTP API server (real HTTP,
LocalStack S3, presigned URLs) with the fake Bedrock answering in a fixed 2 s, against the same
Bedrock call made directly (the provider's time alone). Median and p95. And n=4 against n=1: SD3.5
makes one image per call, so four images are four calls at once, which should cost about one."""

from __future__ import annotations

import json
import os
import threading
import time

import requests

from bench import Figure, check, median, p95
from bench.local import replicate_env

PROVIDER_SECONDS = 2.0
TARGET = "<= 1.05x"
N_TARGET = "<= 1.3x"


def run(ctx) -> list[Figure]:
    import boto3

    from localdev.fake_models import FakeModels
    from localdev.server import LocalApi

    fake = FakeModels().start()
    fake.handle_error = lambda *_: None  # clients dropping idle keep-alive connections is not news
    os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = fake.url
    server = LocalApi(("127.0.0.1", 0))
    server.handle_error = lambda *_: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/images/generations"
    total, provider, four = [], [], []
    try:
        with replicate_env():
            first = requests.post(url, json={"prompt": "a lighthouse at dusk"}, timeout=60)
            assert first.status_code == 201, first.text
            sent = fake.requests[-1]
            fake.latency = PROVIDER_SECONDS
            from imagegen import catalog

            # the direct call goes where the model runs, as the handler's does (the fake refuses it elsewhere)
            client = boto3.client("bedrock-runtime", region_name=catalog.for_task("generate", "generate")[0].region)
            for _ in range(ctx.runs):
                start = time.perf_counter()
                response = requests.post(url, json={"prompt": "a lighthouse at dusk"}, timeout=60)
                total.append(time.perf_counter() - start)
                assert response.status_code == 201, response.text
                start = time.perf_counter()
                client.invoke_model(modelId=sent["model"], body=json.dumps(sent["body"]))
                provider.append(time.perf_counter() - start)
                start = time.perf_counter()
                response = requests.post(url, json={"prompt": "a lighthouse at dusk", "n": 4}, timeout=60)
                four.append(time.perf_counter() - start)
                assert response.status_code == 201 and len(response.json()["data"]) == 4, response.text
    finally:
        server.shutdown()
        server.server_close()
        fake.stop()
        os.environ.pop("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", None)
    return [
        Figure(
            "sync",
            f"generate total / provider ({PROVIDER_SECONDS:g} s), median",
            median(total) * 1000,
            median(provider) * 1000,
            "ms",
            "direct Bedrock call",
            TARGET,
            check(median(total) / median(provider), TARGET),
        ),
        Figure(
            "sync",
            f"generate total / provider ({PROVIDER_SECONDS:g} s), p95",
            p95(total) * 1000,
            p95(provider) * 1000,
            "ms",
            "direct Bedrock call",
            TARGET,
            check(p95(total) / p95(provider), TARGET),
        ),
        Figure(
            "sync",
            f"generate n=4 / n=1 ({PROVIDER_SECONDS:g} s a call), median",
            median(four) * 1000,
            median(total) * 1000,
            "ms",
            "n=1 generation",
            N_TARGET,
            check(median(four) / median(total), N_TARGET),
        ),
    ]
