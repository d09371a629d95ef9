"""Edits and variations (`POST /v1/images/edits`, `POST /v1/images/variations`): parse, then edit.

The request is JSON or `multipart/form-data` (OpenAI's form, which the `openai` SDK sends):

- JSON: `{"image": "<base64>" | [...], "image_url": "https://..." | [...], "prompt"?, "mask"?
  (base64 PNG), "model"?, "n"?, "size"?, "response_format"?, "user"?, "strength"?, "input"?}`, or
  OpenAI's JSON edit: `{"images": [{"image_url": "https://..." | "data:..."}], "mask"?: {"image_url"}}`
  (URLs fetched here by the SSRF-safe fetcher; a `file_id` is a 400: this API has no Files API).
- multipart: file parts `image` or `image[]` (the SDK sends a list, even of one, as repeated
  `image[]`), `mask`; text fields `prompt`, `model`, `n`, `size`, `response_format`, `user`,
  `strength`, `image_url` (or `url`, the IA Flash name) and `input` (a JSON object as text).
  API Gateway hands the body to Lambda base64-encoded; api.events.parse_event has already decoded it.
- Variations take the same forms without `prompt` and `mask`.

Up to MAX_IMAGES images. Everything is checked (base64, magic bytes, sizes, the mask, URLs, what the
chosen model can do) before anything is written, so a bad request stores nothing. Then:

- a Bedrock model edits each uploaded image synchronously (jobs.run.now): `201` with the images;
- a Replicate model gets one job per image, submitted at the same time: each upload goes to
  `uploads/{job_id}/0.{ext}` and the model gets a presigned GET URL of it (an `image_url` is passed
  as it is: Replicate downloads it, we never do). The answer is `202` with every job; with
  `Prefer: wait[=N]` it is `201` with the images if they all finish in time (api.prefer).
  A job Replicate refused is in the list as `failed` with its error; if every one failed the
  answer is that error (502/503) with the jobs.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from imagegen import aws, bucket, catalog, providers, settings
from imagegen.api import answers, fields, forms, prefer
from imagegen.api.events import Request, json_response, parse_json
from imagegen.catalog import Model
from imagegen.errors import ApiError, SubmitFailed, bad_request, check_length, invalid, param_of
from imagegen.images import fetch, formats, masks, pillow, sizing
from imagegen.jobs import limits, records, run, waiting
from imagegen.orders import MAX_N, MAX_PROMPT, Order, Params, Source, check_model_calls, model_call_cap
from imagegen.providers import replicate

log = logging.getLogger("imagegen")

MAX_IMAGES = forms.MAX_IMAGES
MAX_URL_LENGTH = 2048
MAX_INPUT_BYTES = 16 * 1024
# Every download of one JSON edit shares this many seconds (less when the Lambda has less time left).
FETCH_SECONDS = 10.0
# Replicate may queue a prediction for a while before it fetches the input.
UPLOAD_URL_EXPIRY_SECONDS = 3600
# The scalar fields both forms share (OpenAI's, plus ours: strength, input).
OPTIONS = frozenset({"prompt", "model", "n", "size", "response_format", "user", "strength", "input"}) | frozenset(
    {*fields.TODAYS_FIELDS, "quality", "background", "output_format", "output_compression", "input_fidelity"}
)
# OpenAI's edit fields no model here varies: their defaults only, anything else a 400 naming it.
EDIT_DEFAULTS = {"quality": ("auto", "standard"), "background": ("auto", "opaque"), "input_fidelity": ("low",)}
JSON_FIELDS = OPTIONS | {"image", "image_url", "images", "mask"}
FORM_FIELDS = OPTIONS | {"image", "image[]", "image_url", "url", "mask"}
NOT_FOR_VARIATIONS = ("prompt", "mask")


# -- parse ---------------------------------------------------------------------------------------


def parse(request: Request) -> Order:
    """The edit request as an order, or a 4xx naming what is wrong. Writes nothing."""
    task = "variation" if request.route_key.endswith("/variations") else "edit"
    if request.content_type == "multipart/form-data":
        return parse_multipart(request, task)
    if request.content_type in ("application/json", ""):
        return parse_json_body(request, task)
    raise ApiError(
        415, "unsupported_media_type", "send application/json or multipart/form-data, not " + request.content_type
    )


def parse_json_body(request: Request, task: str) -> Order:
    """Every field is checked before anything is fetched (a bad request costs no download); then the
    https references (OpenAI's images: [{image_url}], a {image_url} mask) are fetched all at once."""
    body = request.json()
    forms.refuse_unknown(set(body), JSON_FIELDS, "field")
    if "images" in body:  # OpenAI's JSON edit: images: [{image_url | file_id}], mask: {image_url | file_id}
        if "image" in body or "image_url" in body:
            raise invalid("images", "send images, or image / image_url, not both")
        references = image_references(body["images"])
        sources: list[Source] = []
    else:
        references, sources = [], checked(forms.collect_json(body))
    mask = body.get("mask")
    if isinstance(mask, dict):
        references.append(image_reference(mask, "mask"))
    elif mask is not None:
        mask = formats.decode_base64(mask, "mask")
    images = len(sources) or len(body.get("images") or ())
    order = settle(request, task, body, from_form=False, images=images, masked=mask is not None)
    fetched = fetch_all(references, fetch_budget(request, order.row))
    if isinstance(mask, dict):
        mask = fetched.pop()[1]
    sources += [Source(field, data, formats.check_image(data, field)) for field, data in fetched]
    return with_images(order, sources, mask)


# A reference: (field, https URL still to fetch) or (field, bytes already decoded from a data: URL).
Reference = tuple[str, "str | bytes"]


def image_references(value: object) -> list[Reference]:
    """OpenAI's `images` (EditImageBodyJsonParam): 1 to MAX_IMAGES references, each checked for its
    shape now; data: URLs decoded, https URLs fetched later, all at once (fetch_all)."""
    if not isinstance(value, list) or not value:
        raise invalid("images", 'must be a non-empty list of {"image_url": "https://..." or "data:..."}')
    if len(value) > MAX_IMAGES:
        raise invalid("images", f"{len(value)} images; at most {MAX_IMAGES} per request")
    return [image_reference(reference, f"images[{i}]") for i, reference in enumerate(value)]


def image_reference(reference: object, field: str) -> Reference:
    """One ImageRefParam: a data: URL decoded now, an https URL checked for its form (fetched later by
    the SSRF-safe fetcher); a file_id is a 400 (this API has no Files API)."""
    if not isinstance(reference, dict) or set(reference) - {"image_url", "file_id"} or len(reference) != 1:
        raise invalid(field, 'must be {"image_url": "https://..." or "data:image/...;base64,..."} (one key)')
    if "file_id" in reference:
        raise invalid(field, "file_id needs OpenAI's Files API, which this API has not got; send image_url")
    url = reference["image_url"]
    if isinstance(url, str) and url.startswith("data:"):
        return field, formats.decode_base64(url, f"{field}.image_url")
    try:
        return field, fetch.check_url(url, f"{field}.image_url")
    except ApiError as err:
        raise ApiError(err.status, err.code, err.message, param_of(field)) from None


def fetch_budget(request: Request, row: Model) -> float:
    """Seconds every download of a request shares: at most FETCH_SECONDS, and never so long that the
    model call after it no longer fits in what is left of the Lambda's time (its remaining time at the
    start; 30 s, API Gateway's limit, off Lambda)."""
    remaining = (request.deadline - time.monotonic()) if request.deadline is not None else 30.0
    after = settings.bedrock_read_timeout() + 2 if not row.answers_later else 5
    return round(max(1.0, min(FETCH_SECONDS, remaining - after)), 1)


def fetch_all(references: list[Reference], budget: float) -> list[tuple[str, bytes]]:
    """The bytes of every reference, in order: the https ones fetched at once, all within `budget`
    seconds of now (one deadline, not one per URL); the first failure, in request order, is the answer."""
    urls = [(i, field, url) for i, (field, url) in enumerate(references) if isinstance(url, str)]
    results: dict[int, bytes] = {i: data for i, (_, data) in enumerate(references) if isinstance(data, bytes)}
    if urls:
        loopback = settings.fetch_loopback_allowed()

        def one(item: tuple[int, str, str]) -> bytes:
            _, field, url = item
            try:
                return fetch.fetch_image(url, f"{field}.image_url", timeout=budget, allow_loopback=loopback)[0]
            except ApiError as err:
                raise ApiError(err.status, err.code, err.message, param_of(field)) from None

        with ThreadPoolExecutor(max_workers=len(urls), thread_name_prefix="fetch") as pool:
            futures = [(item[0], pool.submit(one, item)) for item in urls]
        for i, future in futures:  # all done (the pool has closed): the first error in request order
            results[i] = future.result()
    return [(field, results[i]) for i, (field, _) in enumerate(references)]


def parse_multipart(request: Request, task: str) -> Order:
    parts = forms.multipart_parts(request)
    forms.refuse_unknown({part.name for part in parts}, FORM_FIELDS, "part")
    sources = checked(forms.collect_form(parts))
    values = forms.text_fields(parts, OPTIONS)
    masks_sent = [part for part in parts if part.name == "mask"]
    if len(masks_sent) > 1:
        raise invalid("mask", "sent more than once")
    mask = masks_sent[0].raw if masks_sent else None
    return build_order(request, task, sources, mask, values, from_form=True)


def checked(sources: list[Source]) -> list[Source]:
    """Edits are all or nothing: the first unusable image refuses the request; URLs must be https."""
    return [Source(s.field, url=check_url(s.url, s.field)) if s.url is not None else s.require() for s in sources]


def check_url(value: object, field: str) -> str:
    """An image URL for Replicate to fetch: https only (http to loopback hosts in local mode)."""
    if not isinstance(value, str) or not value.strip():
        raise bad_request("invalid_image_url", f"{field} must be a non-empty URL string", param_of(field))
    value = value.strip()
    if len(value) > MAX_URL_LENGTH:
        raise bad_request("invalid_image_url", f"{field} is longer than {MAX_URL_LENGTH} characters", param_of(field))
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise bad_request("invalid_image_url", f"{field} is not a valid URL", param_of(field)) from None
    if parts.scheme != "https" and not settings.http_loopback_allowed(parts.scheme, host):
        raise bad_request("invalid_image_url", f"{field} must be an https:// URL", param_of(field))
    if not host or parts.username or parts.password:
        raise bad_request(
            "invalid_image_url", f"{field} must be an https:// URL with a host and no credentials", param_of(field)
        )
    return value


def text(name: str, value: object, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    check_length(name, value, limit, "this route")
    return value


def build_order(
    request: Request, task: str, sources: list[Source], mask: bytes | None, values: dict, from_form: bool
) -> Order:
    """The options checked (settle), then the images and mask (with_images)."""
    order = settle(request, task, values, from_form, images=len(sources), masked=mask is not None)
    return with_images(order, sources, mask)


def settle(request: Request, task: str, values: dict, from_form: bool, images: int, masked: bool) -> Order:
    """Every option checked against the task, the chosen model and the request's cap on model calls
    (images x n), before any image is opened or fetched: an order without its sources yet."""
    if task == "variation":
        for name in NOT_FOR_VARIATIONS:
            if values.get(name) is not None or (name == "mask" and masked):
                raise invalid(name, "variations take no " + name + "; use /v1/images/edits")
    prompt = text("prompt", values.get("prompt"), MAX_PROMPT)
    n = fields.whole_number("n", values.get("n"), from_form)
    n = 1 if n is None else n  # 0 is a value (refused below), not "unset"
    if not 1 <= n <= MAX_N:
        raise invalid("n", f"{n} is outside 1..{MAX_N}")
    check_model_calls(images, n, model_call_cap(request.limits))
    if images > 1 and catalog.stands_for_default(values.get("model")):
        raise invalid(
            "image",
            f"{values['model']} makes one picture from several images, and no model here can; send one image, "
            "or name one of this API's models (GET /v1/models) to edit each image on its own, one result each",
        )
    width, height = fields.size(values.get("size"))
    response_format = catalog.response_format(values.get("response_format"), values.get("model"))
    user = fields.end_user(values)
    strength = fields.number("strength", values.get("strength"), from_form)
    fields.defaults_only(values, EDIT_DEFAULTS)
    output_format, compression = fields.output(values, from_form)
    row = choose(values.get("model"), task, prompt, masked)
    overrides = parse_overrides(values.get("input"), row)
    params = Params(
        prompt=prompt or "",
        width=width,
        height=height,
        n=n,
        task=task,
        strength=strength,
        output_format=output_format,
        compression=compression,
    )
    return Order(
        row,
        row.ref,
        params,
        prompt_given=prompt is not None,
        overrides=overrides,
        response_format=response_format,
        user=user,
        owner=request.owner,
        limits=request.limits,
    )


def with_images(order: Order, sources: list[Source], mask: bytes | None) -> Order:
    """The order with its images at the size they are sent at (sized) and the mask (white-means-edit,
    the same size), checked against what the model can do. `size` is used up here: an edit makes the
    shape of its source, so the source is what is scaled."""
    params = order.params
    if mask is not None and (len(sources) != 1 or sources[0].data is None):
        raise invalid("mask", "a mask goes with exactly one uploaded image (not an image_url)")
    sources, scaled, sizes = sized(order, sources)
    if mask is not None:
        formats.check_image(mask, "mask")
        came, sent = sizes[0] if sizes else (pillow.dimensions(sources[0].data, sources[0].field), None)
        params = replace(params, mask=masks.white_means_edit(mask, came, sent_at=sent))
    params = replace(params, width=None, height=None)
    order = replace(order, params=params, sources=tuple(sources), scaled=tuple(scaled))
    check_model_can(order, order.params.prompt if order.prompt_given else None)
    return order


def sized(order: Order, sources: list[Source]) -> tuple[list[Source], list[str], list[tuple]]:
    """Each uploaded source at the size it is sent at: the `size` asked for (the same shape, or a 400
    that lists what the model can make), else its own; within the model's pixel limit either way (a
    12 MP phone photo is scaled down, proportions kept, and the answer says to what)."""
    asked = (order.params.width, order.params.height) if order.params.width is not None else None
    max_pixels = order.row.limit("image", {}).get("max_pixels")
    done, scaled, sizes = [], [], []
    for source in sources:
        if source.data is None:
            if asked is not None:
                raise invalid("size", f"{source.field} is a URL the model fetches itself: send the image to resize it")
            done.append(source)
            continue
        if asked is None and max_pixels is None:  # nothing to fit it to: sent as it came
            done.append(source)
            continue
        came = pillow.dimensions(source.data, source.field)
        sent = sizing.target(came, asked, max_pixels, order.row.name, source.field)
        sizes.append((came, sent))
        if sent != came:
            data = pillow.resized(source.data, source.field, sent)
            source = replace(source, data=data, content_type=formats.sniff(data))
            scaled.append(f"{source.field}: {came[0]}x{came[1]} -> {sent[0]}x{sent[1]}")
        done.append(source)
    return done, scaled, sizes


def choose(requested: object, task: str, prompt: str | None = None, masked: bool = False) -> Model:
    """The model for an edit or variation request, or a 400 naming `model` that lists the ones allowed.

    Named: that model (an alias, its provider id, or a name in models.aliases), if enabled for the task.
    Not named, or one of OpenAI's own names: the first enabled model that fits the request
    (catalog.default_for).
    """
    if requested is not None and not isinstance(requested, str):
        raise ApiError(400, "invalid_model", "model: must be a string (a model name or alias)", "model")
    if not requested or catalog.stands_for_default(requested):
        return catalog.default_for(task, prompt, masked)
    enabled = catalog.enabled("edit")
    chosen = catalog.find(requested)
    if chosen not in enabled:
        allowed = ", ".join(model.name for model in enabled)
        message = f"model {requested[:100]!r} is not enabled for edits here; use one of {allowed}"
        raise ApiError(400, "model_not_allowed", message, "model")
    if task not in chosen.tasks:
        raise invalid("model", f"{requested[:100]} cannot make {'variations' if task == 'variation' else 'edits'}")
    return chosen


def parse_overrides(value: object, row: Model) -> dict[str, Any]:
    """`input`: Replicate model inputs the deployment lets clients set (REPLICATE_EDIT_INPUTS); none by
    default, so a client cannot turn off a safety checker, raise num_outputs or hand Replicate URLs to fetch."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = parse_json(value, "input", "input")
        except ApiError as err:
            if err.code != "invalid_json":
                raise  # a non-finite number: its own 400, naming it
            raise bad_request("invalid_input", "input must be a JSON object of model inputs", "input") from None
    if not isinstance(value, dict):
        raise bad_request("invalid_input", "input must be a JSON object of model inputs", "input")
    if not row.answers_later:
        raise invalid("input", f"{row.name} is a Bedrock model: input sets Replicate model inputs only")
    taken = sorted(replicate.form(row).inputs() & set(value))
    if taken:
        raise bad_request(
            "invalid_input", f"input.{taken[0]} is set from the request's image/prompt/mask; remove it", "input"
        )
    allowed = frozenset(str(name) for name in settings.replicate_edit_inputs().get(row.id, []))
    refused = sorted(set(value) - allowed)
    if refused:
        names = ", ".join(sorted(allowed)) or "none"
        message = f"input.{refused[0][:100]}: clients may not set this input of {row.id} here (allowed: {names})"
        raise bad_request("input_not_allowed", message, "input")
    if len(json.dumps(value)) > MAX_INPUT_BYTES:
        raise bad_request("invalid_input", f"input is over {MAX_INPUT_BYTES} bytes of JSON", "input")
    return value


def check_model_can(order: Order, prompt: str | None) -> None:
    """What the chosen model cannot honour is a 400 naming the field, never silently dropped."""
    row, params = order.row, order.params
    if not row.answers_later:
        for source in order.sources:
            if source.data is None:
                raise invalid(source.field, f"{order.model} edits uploaded images only; send the image itself")
            providers.validate(row, order.for_source(source))
        return
    if prompt is not None and not row.takes("prompt"):
        raise invalid("prompt", f"{row.name} takes no prompt; leave it out or pick a model that does")
    if row.requires("prompt") and not (prompt or "").strip():
        raise invalid("prompt", f"{row.name} needs a prompt")
    if params.mask is not None and not row.takes("mask"):
        raise invalid("mask", f"{row.name} takes no mask; pick an inpainting model")
    if row.requires("mask") and params.mask is None:
        raise invalid("mask", f"{row.name} needs a mask: a PNG whose transparent pixels mark the area to edit")
    if params.width is not None:
        raise invalid("size", f"{row.name} keeps the input image's size here; leave size out (or auto)")
    if params.strength is not None:
        raise invalid("strength", f"{row.name} has no strength setting here; leave it out")
    replicate.output_input(row, params)  # a format or compression the model cannot make: its 400 now


# -- run and answer ------------------------------------------------------------------------------


def handle(request: Request) -> dict:
    order = parse(request)
    if order.row.answers_later:
        return submit(request, order)
    calls = [order.for_source(source) for source in order.sources]
    job, produced = run.now(order, calls, task=order.task, sources=[s.field for s in order.sources])
    return answers.created(job, order.response_format, produced, asked=order.asked)


def submit(request: Request, order: Order) -> dict:
    """n jobs per image, CALLS_IN_FLIGHT at a time, each image (and the mask) uploaded once and shared by
    its n jobs; 202 with the jobs (or the error if none was accepted). With `Prefer: wait`, 201 with
    the images when every accepted job succeeded in time."""
    webhook = request.webhook_url()
    replicate.client()  # the token is read (or the config error raised) before anything is written
    aws.client("s3")  # made here, once: client creation from one session is not thread-safe
    count = len(order.sources) * order.params.n
    held = run.admit(order, count, run.async_hold_seconds())  # the key's limits, before anything is uploaded
    reservation = held.share(held.usd / count) if held else None  # each job settles its part when it ends
    uploads = run.bounded(lambda source: upload(order, source), list(order.sources))
    # n images of each source: the model makes one per prediction, so n jobs per image (the first
    # keeps the id its upload is filed under)
    work = [
        (source, shared, shared.get("first_job_id") if k == 0 else None)
        for source, shared in zip(order.sources, uploads, strict=True)
        for k in range(order.params.n)
    ]
    started = run.bounded(lambda item: start_job(order, *item, webhook, reservation), work)
    failures = [job["_failure"] for job in started if "_failure" in job]
    wait = prefer.requested(request)
    headers = prefer.applied(wait)
    if wait and not failures:
        started = waiting.wait_for([job["id"] for job in started], wait, request.deadline)
        if all(job["status"] == "succeeded" for job in started):
            return finished(started, order, headers)
    # OpenAI's fields too: a client that reads `data` finds it empty until the jobs finish.
    body: dict[str, Any] = {
        "jobs": [answers.job_summary(job) for job in started],
        "created": int(time.time()),
        "data": [],
    }
    if settings.replicate_offline():
        body["offline"] = True
    if failures and len(failures) == len(started):
        first = failures[0]
        body["error"] = {"code": first.code, "message": first.message}
        return json_response(first.status, body, {**first.headers, **headers})
    return json_response(202, body, headers)


def upload(order: Order, source: Source) -> dict:
    """The source (and the mask) in uploads/{id}/, once for all its jobs, and what Replicate fetches it
    by: {"image", "mask_url", "extra"} (an image_url is passed as it is), or {"failure": ApiError}."""
    if source.data is None:
        return {"image": source.url, "mask_url": None, "extra": {"image_url": source.url}}
    group = bucket.new_job_id()  # the first job's id: its files are uploads/{job id}/..., as before
    try:
        key = bucket.upload_key(group, 0, source.content_type)
        bucket.put_new(key, source.data, source.content_type)
        shared = {"image": bucket.presign(key, UPLOAD_URL_EXPIRY_SECONDS)["url"], "mask_url": None}
        shared["extra"], shared["first_job_id"] = {"upload_key": key}, group
        if order.params.mask is not None:
            mask_key = f"uploads/{group}/mask.png"
            bucket.put_new(mask_key, order.params.mask, "image/png")
            shared["mask_url"] = bucket.presign(mask_key, UPLOAD_URL_EXPIRY_SECONDS)["url"]
        return shared
    except Exception:
        log.exception("edit: %s could not be uploaded", source.field)
        return {"failure": ApiError(503, "storage_unavailable", f"{source.field} could not be started; retry it")}


def start_job(
    order: Order, source: Source, shared: dict, job_id: str | None, webhook: str, reservation: dict | None = None
) -> dict:
    """Open one job of `source` and submit its prediction; the job as stored.

    Never raises: a failure is returned (with `_failure`), so one image's trouble (S3 throttling, a
    provider error) cannot hide the jobs of the others, whose predictions are already billed.
    """
    if "failure" in shared:  # its upload failed: nothing was recorded, the entry names the image
        failure = shared["failure"]
        limits.settle(reservation, 0.0)
        return {"source": source.field, "status": "failed", "error": failure.message, "_failure": failure}
    job_id = job_id or bucket.new_job_id()
    created = False
    try:
        extra: dict[str, Any] = {"source": source.field, "task": order.task, **shared["extra"]}
        if reservation:
            extra["reservation"] = reservation
        prompt = order.params.prompt if order.prompt_given else None
        if prompt is not None:
            extra["prompt"] = prompt
        run.open_job(order, job_id, **extra)
        created = True
        model_input = replicate.edit_input(
            order.row, order.overrides, shared["image"], prompt, shared["mask_url"], order.params
        )
        return run.submit(order.model, model_input, job_id, webhook)
    except SubmitFailed as exc:
        return {**(exc.job or records.get(job_id)), "_failure": exc}
    except Exception as exc:
        log.exception("edit: %s could not be started", source.field)
        failure = ApiError(503, "storage_unavailable", f"{source.field} could not be started; retry it")
        if not created:  # nothing was recorded: the entry names the image instead of a job
            limits.settle(reservation, 0.0)
            return {"source": source.field, "status": "failed", "error": failure.message, "_failure": failure}
        try:
            job = records.update(job_id, lambda current: {**current, "status": "failed", "error": failure.message})
        except Exception:  # S3 is failing us: the job stays open and the sweeper fails it
            log.warning("edit: job %s could not be marked failed (%s)", job_id, type(exc).__name__)
            job = {"id": job_id, "status": "failed", "error": failure.message}
        return {**job, "_failure": failure}


def finished(done: list[dict], order: Order, headers: dict[str, str]) -> dict:
    """201 for jobs that all succeeded while the client waited: every image, in request order."""
    stored = [image for job in done for image in job.get("images", [])]
    body: dict[str, Any] = {"jobs": [answers.job_summary(job) for job in done]}
    body |= answers.image_fields(stored, order.response_format)
    return json_response(201, body, headers)
