"""Image analysis in the Lambda itself: `POST /v1/images/classifications` and `/v1/images/detections`.

One or many images (up to forms.MAX_IMAGES), JSON (`image` base64 / `image_url`, or lists of them)
or multipart (`image` file parts, `url` / `image_url` fields), parsed by the same code as edits.
Query parameters: `top_k` (classifications, 1-20, default 5), `min_score` (0-1, default 0.25) and
`iou` (0-1, default 0.45; non-max suppression) for detections.

A batch is not all-or-nothing: each image gets its result or its own `error` (`code`, `message`),
in request order, and the answer is `200`; it is a 4xx only when nothing usable was sent. URL
images are fetched by imagegen.images.fetch (https only, public addresses only, size-capped).
The models: imagegen.analysis.models.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from imagegen import aws, logs, settings
from imagegen.analysis import models
from imagegen.api import fields, forms
from imagegen.api.events import Request, json_response
from imagegen.errors import ApiError, check_range
from imagegen.images import fetch
from imagegen.orders import Source

log = logging.getLogger("imagegen")

TASKS = {"/v1/images/classifications": "classification", "/v1/images/detections": "detection"}
JSON_FIELDS = frozenset({"image", "image_url"})
FORM_FIELDS = frozenset({*forms.FILE_PARTS, *forms.URL_PARTS})
MAX_TOP_K = 20


def task_of(request: Request) -> str:
    return TASKS[request.route_key.split(" ", 1)[-1]]


# -- the request ---------------------------------------------------------------------------------


def number(request: Request, name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    parse = fields.whole_number if whole else fields.number
    value = parse(name, request.query.get(name), from_text=True)
    if value is None:
        return default
    check_range(name, value, low, high, "this route")
    return value


def sources(request: Request) -> list[Source]:
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


def analyse(source: Source, task: str, options: dict[str, float], memory) -> dict[str, Any]:
    """One image's result, or its own error: one bad image never fails the others. Its decode waits for
    room in the request's memory budget, so images decode one or a few at a time, never all at once."""
    result: dict[str, Any] = {"source": source.field}
    try:
        source.require()
        data = source.data
        if source.url is not None:
            data, _ = fetch.fetch_image(source.url, source.field, allow_loopback=settings.fetch_loopback_allowed())
        chosen = models.model(task)
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
    models.model(task)  # loaded (or its configuration error raised) before any image is fetched
    aws.client("s3")  # made once, before threads: client creation is not thread-safe
    memory = models.budget()
    if len(images) == 1:
        results = [analyse(images[0], task, options, memory)]
    else:
        with ThreadPoolExecutor(max_workers=len(images), thread_name_prefix="analyse") as pool:
            results = list(pool.map(lambda source: analyse(source, task, options, memory), images))
    for index, result in enumerate(results):
        result["index"] = index
    body = {"object": "list", "task": task, "model": settings.analysis_models()[task]["key"], "results": results}
    if all("error" in result for result in results):  # nothing usable was sent: the request is at fault
        message = f"no image could be analysed; the first: {results[0]['error']['message']}"
        error = {"code": "no_usable_image", "message": message, "type": "invalid_request_error", "param": "image"}
        return json_response(400, {"error": error, **body})
    return json_response(200, body)
