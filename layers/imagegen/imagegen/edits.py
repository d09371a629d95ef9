"""Image-to-image on Replicate (`POST /v1/images/edits`): one job per image, submitted concurrently.

The request is JSON or `multipart/form-data`:

- JSON: `{"image": "<base64>" | [...], "image_url": "https://..." | [...], "model"?, "input"?}`
- multipart: file parts named `image` (one or more), text fields `image_url` (or `url`, the
  IA Flash name), `model`, and `input` (a JSON object as text). API Gateway hands the body to
  Lambda base64-encoded; http.parse_event has already decoded it.

Up to MAX_IMAGES images in all. Every image is checked (base64, magic bytes, size, https URL)
before anything is written, so a bad request stores nothing. Then, for each image at the same
time: the bytes go to `uploads/{job_id}/0.{ext}`, a job record is created, and the prediction
is submitted with a presigned GET URL of the upload as the model's image input (an `image_url`
is passed to Replicate as it is: Replicate downloads it, we never do). The answer is `202` with
every job; a job Replicate refused or could not take is in the list as `failed` with its error,
and if every one failed the answer is that error (502/503) with the jobs.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from imagegen import aws, config, http, images, jobs, predictions, storage
from imagegen.config import ConfigError, env, env_list
from imagegen.http import ApiError, Request, bad_request, json_response

log = logging.getLogger("imagegen")

MAX_IMAGES = 8
MAX_URL_LENGTH = 2048
MAX_INPUT_BYTES = 16 * 1024
# Replicate may queue a prediction for a while before it fetches the input.
UPLOAD_URL_EXPIRY_SECONDS = 3600
JSON_FIELDS = frozenset({"image", "image_url", "model", "input"})
FORM_FIELDS = frozenset({"image", "image_url", "url", "model", "input"})


@dataclass(frozen=True)
class Source:
    """One image to edit: uploaded bytes (with their sniffed type) or a URL Replicate fetches."""

    field: str
    data: bytes | None = None
    content_type: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class EditOrder:
    sources: list[Source]
    model: str  # owner/name[:version], from the allowlist
    overrides: dict[str, Any]


# -- configuration ---------------------------------------------------------------------------


# cartoonify is a community model: Replicate serves `POST /v1/models/{owner}/{name}/predictions`
# only for its official models, so the default is pinned to the version the source system used.
DEFAULT_EDIT_MODEL = "catacolabs/cartoonify"
DEFAULT_EDIT_VERSION = "f109015d60170dfb20460f17da8cb863155823c85ece1115e1e9e4ec7ef51d3b"


def default_model() -> str:
    model = env("REPLICATE_EDIT_MODEL", DEFAULT_EDIT_MODEL)
    pinned = DEFAULT_EDIT_VERSION if model == DEFAULT_EDIT_MODEL else ""
    version = os.environ.get("REPLICATE_EDIT_VERSION", pinned).strip()
    ref = f"{model}:{version}" if version else model
    try:
        predictions.parse_model_ref(ref)
    except ValueError as exc:
        raise ConfigError(f"REPLICATE_EDIT_MODEL/REPLICATE_EDIT_VERSION: {exc}") from None
    return ref


def allowed_models() -> tuple[str, ...]:
    """The models a request may pick: REPLICATE_EDIT_MODELS, and always the default."""
    refs = [default_model(), *env_list("REPLICATE_EDIT_MODELS", default_model())]
    for ref in refs:
        try:
            predictions.parse_model_ref(ref)
        except ValueError as exc:
            raise ConfigError(f"REPLICATE_EDIT_MODELS: {exc}") from None
    return tuple(dict.fromkeys(refs))


def image_input_name() -> str:
    """The model input that takes the image (cartoonify's is `image`)."""
    return env("REPLICATE_EDIT_IMAGE_INPUT", "image")


def choose_model(requested: object) -> str:
    if requested is None or requested == "":
        return default_model()
    if not isinstance(requested, str):
        raise bad_request("invalid_model", "model must be a string owner/name[:version]")
    allowed = allowed_models()
    if requested in allowed:
        return requested
    for ref in allowed:  # `owner/name` picks the allowlisted entry (and its pinned version)
        if ref.partition(":")[0] == requested:
            return ref
    names = ", ".join(allowed)
    raise bad_request("model_not_allowed", f"model {requested[:200]!r} is not allowed here; use one of {names}")


# -- parsing ---------------------------------------------------------------------------------


def check_url(value: object, field: str) -> str:
    """An image URL for Replicate to fetch: https only (http to loopback hosts in local mode)."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request("invalid_image_url", f"{field} must be a non-empty URL string")
    value = value.strip()
    if len(value) > MAX_URL_LENGTH:
        raise bad_request("invalid_image_url", f"{field} is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise bad_request("invalid_image_url", f"{field} is not a valid URL") from None
    if parts.scheme != "https" and not config.http_loopback_allowed(parts.scheme, host):
        raise bad_request("invalid_image_url", f"{field} must be an https:// URL")
    if not host or parts.username or parts.password:
        raise bad_request("invalid_image_url", f"{field} must be an https:// URL with a host and no credentials")
    return value


def as_list(value: object) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def allowed_inputs(model_ref: str) -> frozenset[str]:
    """The model inputs a client may set for `model_ref` (REPLICATE_EDIT_INPUTS: JSON {"owner/name": [...]});
    none by default, so a client cannot turn off a safety checker, raise num_outputs or hand
    Replicate URLs to fetch."""
    raw = env("REPLICATE_EDIT_INPUTS", "{}")
    try:
        table = json.loads(raw)
    except ValueError:
        raise ConfigError("REPLICATE_EDIT_INPUTS is not a JSON object") from None
    if not isinstance(table, dict) or not all(isinstance(v, list) for v in table.values()):
        raise ConfigError('REPLICATE_EDIT_INPUTS must be {"owner/name": ["input", ...]}')
    return frozenset(str(name) for name in table.get(model_ref.partition(":")[0], []))


def parse_overrides(value: object, model_ref: str) -> dict[str, Any]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = http.parse_json(value, "input", "input")
        except ApiError as err:
            if err.code != "invalid_json":
                raise  # a non-finite number: its own 400, naming it
            raise bad_request("invalid_input", "input must be a JSON object of model inputs") from None
    if not isinstance(value, dict):
        raise bad_request("invalid_input", "input must be a JSON object of model inputs")
    if image_input_name() in value:
        raise bad_request("invalid_input", f"input.{image_input_name()} is set from image/image_url; remove it")
    refused = sorted(set(value) - allowed_inputs(model_ref))
    if refused:
        allowed = ", ".join(sorted(allowed_inputs(model_ref))) or "none"
        model = model_ref.partition(":")[0]
        message = f"input.{refused[0][:100]}: clients may not set this input of {model} here (allowed: {allowed})"
        raise bad_request("input_not_allowed", message)
    if len(json.dumps(value)) > MAX_INPUT_BYTES:
        raise bad_request("invalid_input", f"input is over {MAX_INPUT_BYTES} bytes of JSON")
    return value


def check_count(count: int) -> None:
    if count == 0:
        raise bad_request("missing_image", "send an image: `image` (base64 or a file part) or `image_url`")
    if count > MAX_IMAGES:
        raise bad_request("too_many_images", f"{count} images; at most {MAX_IMAGES} per request")


def parse_json(request: Request) -> EditOrder:
    body = request.json()
    unknown = set(body) - JSON_FIELDS
    if unknown:
        raise bad_request("unknown_field", f"unknown field(s) {sorted(unknown)}; use {sorted(JSON_FIELDS)}")
    encoded, urls = as_list(body.get("image")), as_list(body.get("image_url"))
    check_count(len(encoded) + len(urls))
    sources = []
    for i, value in enumerate(encoded):
        field = "image" if len(encoded) == 1 else f"image[{i}]"
        data = images.decode_base64(value, field)
        sources.append(Source(field, data, images.check_image(data, field)))
    for i, value in enumerate(urls):
        field = "image_url" if len(urls) == 1 else f"image_url[{i}]"
        sources.append(Source(field, url=check_url(value, field)))
    model = choose_model(body.get("model"))
    return EditOrder(sources, model, parse_overrides(body.get("input"), model))


def parse_multipart(request: Request) -> EditOrder:
    import io

    import multipart

    _, options = multipart.parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get("boundary")
    if not boundary:
        raise bad_request("invalid_multipart", "multipart/form-data needs a boundary parameter")
    limit = len(request.body) + 1
    parser = multipart.MultipartParser(
        io.BytesIO(request.body),
        boundary,
        content_length=len(request.body),
        strict=True,
        part_limit=64,
        spool_limit=limit,
        memory_limit=limit,
        disk_limit=0,
    )
    try:
        parts = parser.parts()
    except multipart.MultipartError as exc:
        raise bad_request("invalid_multipart", f"the multipart body is malformed: {exc}") from None
    if not parts:
        raise bad_request("invalid_multipart", "the multipart body has no parts")
    unknown = {part.name for part in parts} - FORM_FIELDS
    if unknown:
        raise bad_request("unknown_field", f"unknown part(s) {sorted(unknown)}; use {sorted(FORM_FIELDS)}")
    files = [part for part in parts if part.name == "image"]
    urls = [part for part in parts if part.name in ("image_url", "url")]
    check_count(len(files) + len(urls))
    sources = []
    for i, part in enumerate(files):
        field = f"image[{i}]" + (f" ({part.filename[:100]})" if part.filename else "")
        data = part.raw
        sources.append(Source(field, data, images.check_image(data, field)))
    for i, part in enumerate(urls):
        field = f"{part.name}[{i}]"
        sources.append(Source(field, url=check_url(form_text(part, field), field)))
    model = parser.get("model")
    overrides = parser.get("input")
    chosen = choose_model(form_text(model, "model").strip() if model else None)
    return EditOrder(sources, chosen, parse_overrides(form_text(overrides, "input") if overrides else None, chosen))


def form_text(part: Any, field: str) -> str:
    """A text part's value: UTF-8 only (what browsers and SDKs send), decoded strictly; else a 400 naming it."""
    charset = (getattr(part, "charset", None) or "utf-8").strip().lower()
    if charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
        raise bad_request("invalid_multipart", f"{field}: charset {charset[:40]!r} is not supported; send UTF-8")
    try:
        return part.raw.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("invalid_multipart", f"{field}: the text is not valid UTF-8") from None


def parse(request: Request) -> EditOrder:
    """The edit request as an order, or a 4xx naming what is wrong. Writes nothing."""
    if request.content_type == "multipart/form-data":
        return parse_multipart(request)
    if request.content_type in ("application/json", ""):
        return parse_json(request)
    raise ApiError(
        415, "unsupported_media_type", "send application/json or multipart/form-data, not " + request.content_type
    )


# -- submitting ------------------------------------------------------------------------------


def start_job(order: EditOrder, source: Source, webhook: str) -> dict:
    """Upload the source, create the job record and submit its prediction; the job as stored.

    Never raises: a failure is returned (with `_failure`), so one image's trouble (S3 throttling, a
    provider error) cannot hide the jobs of the others, whose predictions are already billed.
    """
    job_id = storage.new_job_id()
    created = False
    try:
        extra: dict[str, Any] = {"source": source.field}
        if source.data is not None:
            key = storage.upload_key(job_id, 0, source.content_type)
            storage.put_new(key, source.data, source.content_type)
            image = storage.presign(key, UPLOAD_URL_EXPIRY_SECONDS)["url"]
            extra["upload_key"] = key
        else:
            image = source.url
            extra["image_url"] = source.url
        if predictions.offline():
            extra["offline"] = True
        jobs.create(jobs.new_job(job_id, provider="replicate", model=order.model, **extra))
        created = True
        predictions.submit_prediction(order.model, {**order.overrides, image_input_name(): image}, job_id, webhook)
        return jobs.get(job_id)
    except predictions.SubmitFailed as exc:
        return {**(exc.job or jobs.get(job_id)), "_failure": exc}
    except Exception as exc:
        log.exception("edit: %s could not be started", source.field)
        failure = ApiError(503, "storage_unavailable", f"{source.field} could not be started; retry it")
        if not created:  # nothing was recorded: the entry names the image instead of a job
            return {"source": source.field, "status": "failed", "error": failure.message, "_failure": failure}
        try:
            job = jobs.update(job_id, lambda current: {**current, "status": "failed", "error": failure.message})
        except Exception:  # S3 is failing us: the job stays open and the sweeper fails it
            log.warning("edit: job %s could not be marked failed (%s)", job_id, type(exc).__name__)
            job = {"id": job_id, "status": "failed", "error": failure.message}
        return {**job, "_failure": failure}


def summary(job: dict) -> dict:
    if "id" not in job:  # an image whose job could not even be recorded
        return {"source": job["source"], "status": job["status"], "error": job["error"]}
    view = {"id": job["id"], "status": job["status"], "links": {"self": f"/v1/jobs/{job['id']}"}}
    if job.get("error"):
        view["error"] = job["error"]
    return view


def submit(request: Request, order: EditOrder) -> dict:
    """Start one job per image, all at once; 202 with the jobs (or the error if none was accepted)."""
    webhook = predictions.webhook_url(request)
    predictions.client()  # the token is read (or the config error raised) before anything is written
    aws.client("s3")  # made here, once: boto3's default session is not thread-safe for client creation
    if len(order.sources) == 1:
        started = [start_job(order, order.sources[0], webhook)]
    else:
        with ThreadPoolExecutor(max_workers=len(order.sources), thread_name_prefix="edit") as pool:
            started = list(pool.map(lambda source: start_job(order, source, webhook), order.sources))
    body: dict[str, Any] = {"jobs": [summary(job) for job in started]}
    if predictions.offline():
        body["offline"] = True
    failures = [job["_failure"] for job in started if "_failure" in job]
    if failures and len(failures) == len(started):
        first = failures[0]
        body["error"] = {"code": first.code, "message": first.message}
        return json_response(first.status, body, first.headers)
    return json_response(202, body)


def handle(request: Request) -> dict:
    return submit(request, parse(request))
