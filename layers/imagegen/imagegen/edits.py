"""Edits and variations (`POST /v1/images/edits`, `POST /v1/images/variations`): parse, then edit.

The request is JSON or `multipart/form-data` (OpenAI's form, which the `openai` SDK sends):

- JSON: `{"image": "<base64>" | [...], "image_url": "https://..." | [...], "prompt"?, "mask"?
  (base64 PNG), "model"?, "n"?, "size"?, "response_format"?, "user"?, "strength"?, "input"?}`
- multipart: file parts `image` or `image[]` (the SDK sends a list, even of one, as repeated
  `image[]`), `mask`; text fields `prompt`, `model`, `n`, `size`, `response_format`, `user`,
  `strength`, `image_url` (or `url`, the IA Flash name) and `input` (a JSON object as text).
  API Gateway hands the body to Lambda base64-encoded; http.parse_event has already decoded it.
- Variations take the same forms without `prompt` and `mask`.

Up to MAX_IMAGES images. Everything is checked (base64, magic bytes, sizes, the mask, URLs, what the
chosen model can do) before anything is written, so a bad request stores nothing. Then:

- a Bedrock model (editmodels) edits each uploaded image synchronously: `201` with the images;
- a Replicate model gets one job per image, submitted at the same time: each upload goes to
  `uploads/{job_id}/0.{ext}` and the model gets a presigned GET URL of it (an `image_url` is passed
  as it is: Replicate downloads it, we never do). The answer is `202` with every job; with
  `Prefer: wait[=N]` it is `201` with the images if they all finish in time (imagegen.waiting).
  A job Replicate refused is in the list as `failed` with its error; if every one failed the
  answer is that error (502/503) with the jobs.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from imagegen import (
    aws,
    bedrock,
    config,
    editmodels,
    forms,
    http,
    images,
    jobs,
    masks,
    parsing,
    predictions,
    results,
    sizes,
    storage,
    waiting,
)
from imagegen.catalog import Model
from imagegen.config import ConfigError, env
from imagegen.http import ApiError, Request, bad_request, json_response
from imagegen.invoke import Params, check_length, invalid

log = logging.getLogger("imagegen")

MAX_IMAGES = forms.MAX_IMAGES
MAX_N = 4
MAX_PROMPT = 10000
MAX_URL_LENGTH = 2048
MAX_INPUT_BYTES = 16 * 1024
# Replicate may queue a prediction for a while before it fetches the input.
UPLOAD_URL_EXPIRY_SECONDS = 3600
# The scalar fields both forms share (OpenAI's, plus ours: strength, input).
OPTIONS = frozenset({"prompt", "model", "n", "size", "response_format", "user", "strength", "input"}) | frozenset(
    parsing.TODAYS_FIELDS
)
JSON_FIELDS = OPTIONS | {"image", "image_url", "mask"}
FORM_FIELDS = OPTIONS | {"image", "image[]", "image_url", "url", "mask"}
NOT_FOR_VARIATIONS = ("prompt", "mask")


Source = forms.Source


@dataclass(frozen=True)
class EditOrder:
    task: str  # edit | variation
    sources: list[Source]
    choice: Model
    overrides: dict[str, Any]  # Replicate model inputs the client set (REPLICATE_EDIT_INPUTS)
    prompt: str | None = None
    mask: bytes | None = field(default=None, repr=False)  # white = repaint (imagegen.masks)
    n: int = 1
    width: int | None = None
    height: int | None = None
    strength: float | None = None
    response_format: str = "url"
    user: str | None = None
    owner: str | None = None

    @property
    def model(self) -> str:
        return self.choice.ref


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


def parse_overrides(value: object, choice: Model) -> dict[str, Any]:
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
    if choice.provider != "replicate":
        raise invalid("input", f"{choice.name} is a Bedrock model: input sets Replicate model inputs only")
    model_ref = choice.ref
    taken = sorted(editmodels.form(choice).inputs() & set(value))
    if taken:
        raise bad_request("invalid_input", f"input.{taken[0]} is set from the request's image/prompt/mask; remove it")
    refused = sorted(set(value) - allowed_inputs(model_ref))
    if refused:
        allowed = ", ".join(sorted(allowed_inputs(model_ref))) or "none"
        model = model_ref.partition(":")[0]
        message = f"input.{refused[0][:100]}: clients may not set this input of {model} here (allowed: {allowed})"
        raise bad_request("input_not_allowed", message)
    if len(json.dumps(value)) > MAX_INPUT_BYTES:
        raise bad_request("invalid_input", f"input is over {MAX_INPUT_BYTES} bytes of JSON")
    return value


def checked(sources: list[forms.Source]) -> list[forms.Source]:
    """Edits are all or nothing: the first unusable image refuses the request; URLs must be https."""
    return [forms.Source(s.field, url=check_url(s.url, s.field)) if s.url is not None else s.require() for s in sources]


def parse_json(request: Request, task: str) -> EditOrder:
    body = request.json()
    forms.refuse_unknown(set(body), JSON_FIELDS, "field")
    sources = checked(forms.collect_json(body))
    mask = images.decode_base64(body["mask"], "mask") if body.get("mask") is not None else None
    return build_order(request, task, sources, mask, body, from_form=False)


def parse_multipart(request: Request, task: str) -> EditOrder:
    parts = forms.multipart_parts(request)
    forms.refuse_unknown({part.name for part in parts}, FORM_FIELDS, "part")
    sources = checked(forms.collect_form(parts))
    fields = forms.text_fields(parts, OPTIONS)
    masks_sent = [part for part in parts if part.name == "mask"]
    if len(masks_sent) > 1:
        raise invalid("mask", "sent more than once")
    mask = masks_sent[0].raw if masks_sent else None
    return build_order(request, task, sources, mask, fields, from_form=True)


def text(name: str, value: object, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    check_length(name, value, limit, "this route")
    return value


def build_order(
    request: Request, task: str, sources: list[Source], mask: bytes | None, fields: dict, from_form: bool
) -> EditOrder:
    """Check the options against the task and the chosen model; the mask becomes white-means-edit."""
    if task == "variation":
        for name in NOT_FOR_VARIATIONS:
            if fields.get(name) is not None or (name == "mask" and mask is not None):
                raise invalid(name, "variations take no " + name + "; use /v1/images/edits")
    prompt = text("prompt", fields.get("prompt"), MAX_PROMPT)
    n = parsing.whole_number("n", fields.get("n"), from_form)
    n = 1 if n is None else n  # 0 is a value (refused below), not "unset"
    if not 1 <= n <= MAX_N:
        raise invalid("n", f"{n} is outside 1..{MAX_N}")
    width, height = parsing.size(fields.get("size"))
    response_format = fields.get("response_format") or "url"
    if response_format not in results.RESPONSE_FORMATS:
        raise invalid("response_format", "must be url or b64_json")
    user = parsing.end_user(fields)
    strength = parsing.number("strength", fields.get("strength"), from_form)
    choice = editmodels.choose(fields.get("model"), task)
    overrides = fields.get("input")
    order = EditOrder(
        task=task,
        sources=sources,
        choice=choice,
        overrides=parse_overrides(overrides, choice),
        prompt=prompt,
        n=n,
        width=width,
        height=height,
        strength=strength,
        response_format=response_format,
        user=user,
        owner=request.owner,
    )
    if mask is not None:
        if len(sources) != 1 or sources[0].data is None:
            raise invalid("mask", "a mask goes with exactly one uploaded image (not an image_url)")
        images.check_image(mask, "mask")
        edit_area = masks.white_means_edit(mask, sizes.dimensions(sources[0].data, sources[0].field))
        order = replace(order, mask=edit_area)
    check_model_can(order)
    return order


def check_model_can(order: EditOrder) -> None:
    """What the chosen model cannot honour is a 400 naming the field, never silently dropped."""
    if order.choice.provider == "bedrock":
        for source in order.sources:
            if source.data is None:
                raise invalid(source.field, f"{order.model} edits uploaded images only; send the image itself")
            bedrock.validate(order.choice, params_for(order, source))
        return
    form = editmodels.form(order.choice)
    name = order.choice.name
    if order.prompt is not None and form.prompt is None:
        raise invalid("prompt", f"{name} takes no prompt; leave it out or pick a model that does")
    if form.prompt_required and not (order.prompt or "").strip():
        raise invalid("prompt", f"{name} needs a prompt")
    if order.mask is not None and form.mask is None:
        raise invalid("mask", f"{name} takes no mask; pick an inpainting model")
    if form.mask_required and order.mask is None:
        raise invalid("mask", f"{name} needs a mask: a PNG whose transparent pixels mark the area to edit")
    if order.n != 1:
        raise invalid("n", f"{name} makes one image per input image; send more images instead")
    if order.width is not None:
        raise invalid("size", f"{name} keeps the input image's size here; leave size out (or auto)")
    if order.strength is not None:
        raise invalid("strength", f"{name} has no strength setting here; leave it out")


def params_for(order: EditOrder, source: Source) -> Params:
    return Params(
        prompt=order.prompt or "",
        width=order.width,
        height=order.height,
        n=order.n,
        task=order.task,
        image=source.data,
        mask=order.mask,
        strength=order.strength,
    )


def parse(request: Request) -> EditOrder:
    """The edit request as an order, or a 4xx naming what is wrong. Writes nothing."""
    task = "variation" if request.route_key.endswith("/variations") else "edit"
    if request.content_type == "multipart/form-data":
        return parse_multipart(request, task)
    if request.content_type in ("application/json", ""):
        return parse_json(request, task)
    raise ApiError(
        415, "unsupported_media_type", "send application/json or multipart/form-data, not " + request.content_type
    )


# -- Bedrock: synchronous ----------------------------------------------------------------------


def edit_now(order: EditOrder) -> dict:
    """Each uploaded image through the Bedrock model, at the same time; one job with every image: 201."""
    from imagegen import generation

    def one(source: Source) -> list[bytes]:
        return bedrock.generate(order.choice, params_for(order, source))

    if len(order.sources) == 1:
        produced = one(order.sources[0])
    else:
        with ThreadPoolExecutor(max_workers=len(order.sources), thread_name_prefix="edit") as pool:
            produced = [image for batch in pool.map(one, order.sources) for image in batch]
    params = params_for(order, order.sources[0])
    recorded = generation.Order(
        "bedrock", order.model, params, order.response_format, order.user, order.owner, order.choice
    )
    job = generation.store(recorded, produced, task=order.task, sources=[s.field for s in order.sources])
    return generation.created(job, order.response_format, produced)


# -- Replicate: asynchronous -------------------------------------------------------------------


def model_input(order: EditOrder, image: str, mask_url: str | None) -> dict[str, Any]:
    form = editmodels.form(order.choice)
    payload = {**order.overrides, form.image: image}
    if order.prompt is not None and form.prompt:
        payload[form.prompt] = order.prompt
    if mask_url and form.mask:
        payload[form.mask] = mask_url
    return payload


def start_job(order: EditOrder, source: Source, webhook: str) -> dict:
    """Upload the source (and mask), create the job record and submit its prediction; the job as stored.

    Never raises: a failure is returned (with `_failure`), so one image's trouble (S3 throttling, a
    provider error) cannot hide the jobs of the others, whose predictions are already billed.
    """
    job_id = storage.new_job_id()
    created = False
    try:
        extra: dict[str, Any] = {"source": source.field, "task": order.task}
        if source.data is not None:
            key = storage.upload_key(job_id, 0, source.content_type)
            storage.put_new(key, source.data, source.content_type)
            image = storage.presign(key, UPLOAD_URL_EXPIRY_SECONDS)["url"]
            extra["upload_key"] = key
        else:
            image = source.url
            extra["image_url"] = source.url
        mask_url = None
        if order.mask is not None:
            mask_key = f"uploads/{job_id}/mask.png"
            storage.put_new(mask_key, order.mask, "image/png")
            mask_url = storage.presign(mask_key, UPLOAD_URL_EXPIRY_SECONDS)["url"]
        if order.prompt is not None:
            extra["prompt"] = order.prompt
        for name in ("user", "owner"):
            if getattr(order, name):
                extra[name] = getattr(order, name)
        if predictions.offline():
            extra["offline"] = True
        jobs.create(jobs.new_job(job_id, provider="replicate", model=order.model, **extra))
        created = True
        predictions.submit_prediction(order.model, model_input(order, image, mask_url), job_id, webhook)
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
    """Start one job per image, all at once; 202 with the jobs (or the error if none was accepted).
    With `Prefer: wait`, 201 with the images when every accepted job succeeded in time."""
    webhook = predictions.webhook_url(request)
    predictions.client()  # the token is read (or the config error raised) before anything is written
    aws.client("s3")  # made here, once: boto3's default session is not thread-safe for client creation
    if len(order.sources) == 1:
        started = [start_job(order, order.sources[0], webhook)]
    else:
        with ThreadPoolExecutor(max_workers=len(order.sources), thread_name_prefix="edit") as pool:
            started = list(pool.map(lambda source: start_job(order, source, webhook), order.sources))
    failures = [job["_failure"] for job in started if "_failure" in job]
    wait = waiting.requested(request)
    headers = waiting.applied(wait) if wait is not None else {}
    if wait and not failures:
        started = waiting.wait_for([job["id"] for job in started], wait, request.deadline)
        if all(job["status"] == "succeeded" for job in started):
            return finished(started, order, headers)
    # OpenAI's fields too: a client that reads `data` finds it empty until the jobs finish.
    body: dict[str, Any] = {"jobs": [summary(job) for job in started], "created": int(time.time()), "data": []}
    if predictions.offline():
        body["offline"] = True
    if failures and len(failures) == len(started):
        first = failures[0]
        body["error"] = {"code": first.code, "message": first.message}
        return json_response(first.status, body, {**first.headers, **headers})
    return json_response(202, body, headers)


def finished(done: list[dict], order: EditOrder, headers: dict[str, str]) -> dict:
    """201 for jobs that all succeeded while the client waited: every image, in request order."""
    stored = [image for job in done for image in job.get("images", [])]
    body: dict[str, Any] = {"jobs": [summary(job) for job in done]}
    body |= results.image_fields(stored, order.response_format)
    return json_response(201, body, headers)


def handle(request: Request) -> dict:
    order = parse(request)
    if order.choice.provider == "bedrock":
        return edit_now(order)
    return submit(request, order)
