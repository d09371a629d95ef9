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
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from imagegen import catalog, providers, settings
from imagegen.api import fields, forms, prefer, respond
from imagegen.api.events import Request, parse_json
from imagegen.catalog import Model
from imagegen.errors import ApiError, bad_request, check_length, invalid, param_of
from imagegen.images import fetch, formats, masks, pillow, sizing
from imagegen.jobs import webhooks
from imagegen.orders import MAX_N, MAX_PROMPT, Order, Params, Source, check_model_calls, model_call_cap

log = logging.getLogger("imagegen")

MAX_IMAGES = forms.MAX_IMAGES
MAX_URL_LENGTH = 2048
MAX_INPUT_BYTES = 16 * 1024
# Every download of one JSON edit shares this many seconds (less when the Lambda has less time left).
FETCH_SECONDS = 10.0
# The scalar fields both forms share (OpenAI's, plus ours: strength, input).
OPTIONS = (
    frozenset({"prompt", "model", "n", "size", "response_format", "user", "strength", "input"})
    | frozenset({"webhook", "webhook_events_filter"})
    | frozenset(
        {*fields.TODAYS_FIELDS, "quality", "background", "output_format", "output_compression", "input_fidelity"}
    )
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
    fetched = fetch.fetch_all(references, fetch_budget(request, order.row), settings.fetch_loopback_allowed())
    if isinstance(mask, dict):
        mask = fetched.pop()[1]
    sources += [Source(field, data, formats.check_image(data, field)) for field, data in fetched]
    return with_images(order, sources, mask)


Reference = fetch.Reference


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
    answered_now = not row.answers_later and not prefer.respond_async(request)
    check_model_calls(images, n, model_call_cap(request.limits), answered_now)
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
        webhook=webhooks.target(values, request.limits.get("webhook")),
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
    check_model_can(order)
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
        raise invalid("input", f"{row.name} answers now: input sets the inputs of models that answer later only")
    taken = sorted(providers.of(row).input_names(row) & set(value))
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


def check_model_can(order: Order) -> None:
    """What the chosen model cannot honour is a 400 naming the field, never silently dropped."""
    if order.row.answers_later:
        providers.validate(order.row, order.params)
        return
    for source in order.sources:
        if source.data is None:
            raise invalid(source.field, f"{order.model} edits uploaded images only; send the image itself")
        providers.validate(order.row, order.for_source(source))


# -- answer --------------------------------------------------------------------------------------


def handle(request: Request) -> dict:
    """Parse, then answer (api.respond): one model request per uploaded image."""
    order = parse(request)
    extra = {"task": order.task, "sources": [s.field for s in order.sources]} if not order.row.answers_later else {}
    return respond.images(request, order, [order.for_source(source) for source in order.sources], **extra)
