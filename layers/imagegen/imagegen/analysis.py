"""Image analysis in the Lambda itself: `POST /v1/images/classifications` and `/v1/images/detections`.

One or many images (up to forms.MAX_IMAGES), JSON (`image` base64 / `image_url`, or lists of them)
or multipart (`image` file parts, `url` / `image_url` fields), parsed by the same code as edits.
Query parameters: `top_k` (classifications, 1-20, default 5), `min_score` (0-1, default 0.25) and
`iou` (0-1, default 0.45; non-max suppression) for detections.

A batch is not all-or-nothing: each image gets its result or its own `error` (`code`, `message`),
in request order, and the answer is `200`; it is a 4xx only when nothing usable was sent. URL
images are fetched by imagegen.fetch (https only, public addresses only, size-capped).

Models are ONNX files in the bucket, named by ANALYSIS_MODELS (Terraform `analysis_models`):
`{"classification": {"key": "models/x.onnx", "labels_key": "models/x.txt", <vision.ModelSpec
fields but labels>}, "detection": {...}}`; each is loaded once per cold start.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from imagegen import aws, config, fetch, forms, logs, parsing, storage
from imagegen.config import ConfigError, env
from imagegen.http import ApiError, Request, json_response
from imagegen.invoke import check_range

log = logging.getLogger("imagegen")

TASKS = {"/v1/images/classifications": "classification", "/v1/images/detections": "detection"}
JSON_FIELDS = frozenset({"image", "image_url"})
FORM_FIELDS = frozenset({*forms.FILE_PARTS, *forms.URL_PARTS})
MAX_TOP_K = 20
MAX_LABELS_BYTES = 1024 * 1024


def task_of(request: Request) -> str:
    return TASKS[request.route_key.split(" ", 1)[-1]]


def model_settings() -> dict[str, dict]:
    try:
        table = json.loads(env("ANALYSIS_MODELS"))
    except ValueError:
        raise ConfigError("ANALYSIS_MODELS is not valid JSON") from None
    if not isinstance(table, dict) or not all(isinstance(row, dict) and row.get("key") for row in table.values()):
        raise ConfigError('ANALYSIS_MODELS must be {"classification"|"detection": {"key": "models/...onnx", ...}}')
    return table


@cache
def model(task: str):
    """The task's model, read from the bucket and loaded into ONNX Runtime once per cold start."""
    from imagegen import vision  # numpy, Pillow, onnxruntime: the analysis layer

    row = model_settings().get(task)
    if row is None:  # the route exists, the deployment has no model for it: not implemented here
        raise ApiError(501, "model_not_configured", f"no {task} model is configured on this deployment")
    started = time.perf_counter()
    # Terraform writes unset optional fields as null: they mean "the default".
    spec = {k: v for k, v in row.items() if k not in ("key", "labels_key") and v is not None}
    if row.get("labels_key"):
        labels = read_labels(row["labels_key"])
        spec["labels"] = labels
    loaded = vision.Model(vision.ModelSpec.from_dict({**spec, "task": task}), storage.read(row["key"]))
    seconds = time.perf_counter() - started
    logs.metric("ModelLoadTime", round(seconds * 1000, 1), "Milliseconds", task=task)
    log.info("%s model %s loaded in %.0f ms", task, row["key"], seconds * 1000)
    return loaded


def read_labels(key: str) -> list[str]:
    """A label file: one label per line (blank lines skipped), as torchvision and YOLO exports ship them."""
    data = storage.read(key)
    if len(data) > MAX_LABELS_BYTES:
        raise ConfigError(f"label file {key} is over {MAX_LABELS_BYTES} bytes")
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


# -- the request ---------------------------------------------------------------------------------


def number(request: Request, name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    parse = parsing.whole_number if whole else parsing.number
    value = parse(name, request.query.get(name), from_text=True)
    if value is None:
        return default
    check_range(name, value, low, high, "this route")
    return value


def sources(request: Request) -> list[forms.Source]:
    """Every image of the request, each usable or with its own error; a 4xx for a malformed body."""
    if request.content_type == "multipart/form-data":
        parts = forms.multipart_parts(request)
        forms.refuse_unknown({part.name for part in parts}, FORM_FIELDS, "part")
        return forms.collect_form(parts)
    if request.content_type in ("application/json", ""):
        body = request.json()
        forms.refuse_unknown(set(body), JSON_FIELDS, "field")
        return forms.collect_json(body)
    raise ApiError(415, "unsupported_media_type", "send application/json or multipart/form-data")


# -- doing it -----------------------------------------------------------------------------------


def fetch_loopback_allowed() -> bool:
    """Tests and make serve only: URL images from this machine (IMAGEGEN_FETCH_ALLOW_LOOPBACK=1)."""
    return os.environ.get("IMAGEGEN_FETCH_ALLOW_LOOPBACK") == "1"


# The share of the function's memory one request's decoded images may hold at once (the rest: the runtime,
# ONNX Runtime and the model, the request and the answer).
IMAGE_MEMORY_SHARE = 0.4


def budget():
    """A request's memory budget for decoding its images (vision.MemoryBudget), from the function's memory."""
    from imagegen import vision

    return vision.MemoryBudget(int(config.function_memory_mb() * 2**20 * IMAGE_MEMORY_SHARE))


def analyse(source: forms.Source, task: str, options: dict[str, float], memory) -> dict[str, Any]:
    """One image's result, or its own error: one bad image never fails the others. Its decode waits for
    room in the request's memory budget, so images decode one or a few at a time, never all at once."""
    result: dict[str, Any] = {"source": source.field}
    try:
        source.require()
        data = source.data
        if source.url is not None:
            data, _ = fetch.fetch_image(source.url, source.field, allow_loopback=fetch_loopback_allowed())
        chosen = model(task)
        started = time.perf_counter()
        if task == "classification":
            result["labels"] = chosen.classify(data, int(options["top_k"]), memory, source.field)
        else:
            result["detections"] = chosen.detect(data, options["min_score"], options["iou"], memory, source.field)
        logs.metric("InferenceTime", round((time.perf_counter() - started) * 1000, 1), "Milliseconds", task=task)
    except ApiError as err:
        if err.code == "model_not_configured":
            raise
        result["error"] = {"code": err.code, "message": err.message}
    return result


def handle(request: Request) -> dict:
    task = task_of(request)
    if task == "classification":
        options = {"top_k": number(request, "top_k", 5, 1, MAX_TOP_K, whole=True)}
    else:
        options = {"min_score": number(request, "min_score", 0.25, 0, 1), "iou": number(request, "iou", 0.45, 0, 1)}
    images = sources(request)
    model(task)  # loaded (or its configuration error raised) before any image is fetched
    aws.client("s3")  # made once, before threads: boto3 client creation is not thread-safe
    memory = budget()
    if len(images) == 1:
        results = [analyse(images[0], task, options, memory)]
    else:
        with ThreadPoolExecutor(max_workers=len(images), thread_name_prefix="analyse") as pool:
            results = list(pool.map(lambda source: analyse(source, task, options, memory), images))
    for index, result in enumerate(results):
        result["index"] = index
    body = {"object": "list", "task": task, "model": model_settings()[task]["key"], "results": results}
    if all("error" in result for result in results):  # nothing usable was sent: the request is at fault
        message = f"no image could be analysed; the first: {results[0]['error']['message']}"
        error = {"code": "no_usable_image", "message": message, "type": "invalid_request_error", "param": "image"}
        return json_response(400, {"error": error, **body})
    return json_response(200, body)
