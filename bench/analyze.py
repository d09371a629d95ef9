"""Image analysis: cold start (onnxruntime, numpy, Pillow imported and the model loaded) and per-image
latency of both routes through the local HTTP API server, on the demo colour models.

Cold start: a fresh interpreter imports the analyze handler and loads each model from its bytes
(what the first request of a Lambda does), against a fresh interpreter that only starts (`pass`).
Per image: one 640x480 JPEG through POST /v1/images/classifications and /detections (HTTP, JSON,
base64, the ONNX run, the answer), against decoding that JPEG alone in this process.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import requests

import bench.local
from bench import ROOT, Figure, median

COLD = """
import sys, time
sys.path[:0] = [{layer!r}, {functions!r}]
started = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("analyze_handler", {handler!r})
spec.loader.exec_module(importlib.util.module_from_spec(spec))
from imagegen.analysis import onnx
onnx.Model(onnx.ModelSpec.from_dict({spec_row!r}), open({model!r}, "rb").read())
print(time.perf_counter() - started)
"""


def fresh(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-B", "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def jpeg(size=(640, 480)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def cold_starts(ctx) -> list[Figure]:
    from localdev import demo_models

    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for task, build, row in (
            ("classification", demo_models.colour_classifier, demo_models.CLASSIFIER_SPEC),
            ("detection", demo_models.colour_detector, demo_models.DETECTOR_SPEC),
        ):
            path = os.path.join(tmp, f"{task}.onnx")
            with open(path, "wb") as file:
                file.write(build())
            code = COLD.format(
                layer=str(ROOT / "src"),
                functions=str(ROOT / "functions"),
                handler=str(ROOT / "functions" / "analyze" / "handler.py"),
                spec_row={**row, "task": task, "labels": demo_models.LABELS},
                model=path,
            )
            fresh(code)  # warm the OS file cache: every run then reads the same way
            runs = [fresh(code) for _ in range(ctx.runs)]
            bare = [fresh("pass") for _ in range(ctx.runs)]
            figures.append(
                Figure(
                    "analyze",
                    f"cold start + {task} model load",
                    median(runs) * 1000,
                    median(bare) * 1000,
                    "ms",
                    "bare interpreter start",
                )
            )
    return figures


def per_image(ctx) -> list[Figure]:
    import boto3

    from imagegen.analysis import models as analysis
    from imagegen.analysis import onnx
    from localdev import demo_models
    from localdev.bucket import ensure_bucket
    from localdev.server import LocalApi

    bucket = os.environ.setdefault("BUCKET_NAME", "imagegen-bench")
    ensure_bucket(bucket)
    os.environ["ANALYSIS_MODELS"] = demo_models.install(boto3.client("s3"), bucket, prefix="models/bench")
    analysis.model.cache_clear()
    server = LocalApi(("127.0.0.1", 0))
    server.handle_error = lambda *_: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    image = jpeg()
    body = json.dumps({"image": base64.b64encode(image).decode()})
    decode = []
    for _ in range(ctx.runs * 3):
        start = time.perf_counter()
        onnx.load_image(image)
        decode.append(time.perf_counter() - start)
    figures = []
    try:
        for route in ("classifications", "detections"):
            url = f"http://127.0.0.1:{server.server_address[1]}/v1/images/{route}"
            headers = {"content-type": "application/json"}
            assert requests.post(url, data=body, headers=headers, timeout=60).status_code == 200  # model loaded
            took = []
            for _ in range(ctx.runs * 3):
                start = time.perf_counter()
                response = requests.post(url, data=body, headers=headers, timeout=60)
                took.append(time.perf_counter() - start)
                assert response.status_code == 200, response.text
            figures.append(
                Figure(
                    "analyze",
                    f"POST /v1/images/{route}, one 640x480 JPEG",
                    median(took) * 1000,
                    median(decode) * 1000,
                    "ms",
                    "decoding the JPEG alone",
                )
            )
    finally:
        server.shutdown()
        server.server_close()
    return figures


WORST = """
import importlib.util, json, resource, sys
sys.path[:0] = [{layer!r}]
spec = importlib.util.spec_from_file_location("analyze_handler", {handler!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 1024, "bench"
    def get_remaining_time_in_millis(self):
        return 30000

warm = module.handler(json.load(open({warm!r})), Context())
assert warm["statusCode"] == 200, warm["body"]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
answer = module.handler(json.load(open({worst!r})), Context())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"base_mb": base / 1024, "peak_mb": peak / 1024, "status": answer["statusCode"],
                  "body": answer["body"][:300]}}))
"""
# The worst request found: four 50-megapixel PNGs (just under the decoder's pixel limit, ~150 KB each).
WORST_SIDE, WORST_COUNT, FUNCTION_MB = 7071, 4, 1024


def analysis_share() -> float:
    from imagegen.analysis import models as analysis

    return analysis.IMAGE_MEMORY_SHARE


def worst_request(ctx) -> list[Figure]:
    """Peak RSS of a fresh process running the analyze handler on the worst request, against the
    function's memory (1024 MB by default): it must fit, whatever a key holder sends."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (WORST_SIDE, WORST_SIDE), (200, 40, 40)).save(out, format="PNG")
    png_kb = len(out.getvalue()) // 1024
    big = base64.b64encode(out.getvalue()).decode()
    event = bench.local.event("POST", "/v1/images/classifications", "POST /v1/images/classifications",
                              json.dumps({"image": [big] * WORST_COUNT}))  # fmt: skip
    warm = bench.local.event("POST", "/v1/images/classifications", "POST /v1/images/classifications",
                             json.dumps({"image": base64.b64encode(jpeg()).decode()}))  # fmt: skip
    peaks, bases, statuses = [], [], set()
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: os.path.join(tmp, f"{name}.json") for name in ("worst", "warm")}
        for name, doc in (("worst", event), ("warm", warm)):
            with open(files[name], "w") as file:
                json.dump(doc, file)
        code = WORST.format(layer=str(ROOT / "src"), handler=str(ROOT / "functions/analyze/handler.py"),
                            **files)  # fmt: skip
        env = {**os.environ, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(FUNCTION_MB)}
        for _ in range(max(3, ctx.runs // 2)):
            out = subprocess.run([sys.executable, "-B", "-c", code], capture_output=True, text=True, env=env)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            result = json.loads(out.stdout.strip().splitlines()[-1])
            peaks.append(result["peak_mb"])
            bases.append(result["base_mb"])
            statuses.add(result["status"])
    ctx.notes.append(
        f"analyze worst request: {WORST_COUNT} x {WORST_SIDE}x{WORST_SIDE} PNG ({png_kb} KB each), "
        f"status {sorted(statuses)}; the process before it (model loaded, one small image) peaked at "
        f"{median(bases):.0f} MB; decoded images may hold {analysis_share():.0%} of the function's memory"
    )
    return [
        Figure(
            "analyze",
            f"peak RSS, worst request ({WORST_COUNT} x 50 MP PNG)",
            median(peaks),
            FUNCTION_MB,
            "MB",
            "the function's memory",
            "<= 0.8x",
            median(peaks) / FUNCTION_MB <= 0.8,
        )
    ]


def run(ctx) -> list[Figure]:
    ctx.notes.append("analyze: demo colour models (tiny); a MobileNet-size model adds its own run time per image")
    figures = cold_starts(ctx) + per_image(ctx)
    return figures + worst_request(ctx)
