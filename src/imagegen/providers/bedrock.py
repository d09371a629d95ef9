"""Amazon Bedrock: one small adapter per request family of the model catalog (imagegen.catalog).

A catalog row names its family, its limits and where it runs: the model is invoked in the row's
region (a bedrock-runtime client per region, whatever the stack's region), by its inference
profile id where AWS offers it only through one.

- `stability-sd3` (SD3.5 Large, Stable Image Ultra and Core): `prompt`, `negative_prompt`, `seed`,
  `aspect_ratio`, `output_format` (text-to-image is the default mode, so no `mode`: Core's page lists
  none); answers `images[]`, `seeds[]`, `finish_reasons[]` (null = ok, "Filter reason: ..." =
  filtered, then `finish_reasons` alone). A row with the edit/variation tasks (SD3.5 Large) also
  takes `mode: image-to-image` (`image`, `strength`); a variation sends VARIATION_PROMPT, since
  image-to-image is not documented to take an empty prompt (Stability's own API requires one).
- `stability-inpaint` (Stability Image Services Inpaint): `image`, `mask` (white = repaint),
  `prompt`; answers like SD3.5.

The other Stability Image Services (erase, outpaint, search-replace, upscale, ...) take other
bodies and have no row: Terraform refuses a name that is not in the catalog at plan time.
SDXL, Titan Image Generator and Nova Canvas reached end of life on Bedrock; their formats are gone.
These models return one image per call (a row's `limits.n`): a request for n images (a generation,
or an edit of each image) is n calls (`calls`), each with its own seed, which jobs.run makes a few
at a time.
Each adapter states the tasks it can do; any other task is a 400 naming the model.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from imagegen.catalog import Model
from imagegen.errors import (
    ConfigError,
    ContentFiltered,
    ProviderError,
    check_length,
    check_output_format,
    check_range,
    invalid,
    refuse,
)
from imagegen.images import formats
from imagegen.orders import MAX_N, Params
from imagegen.providers import runtime

ANSWERS = "now"  # imagegen.providers.contract


def decode_images(values: object) -> list[bytes]:
    if not isinstance(values, list) or not values:
        raise ProviderError("bedrock returned no images")
    try:
        return [base64.b64decode(value, validate=True) for value in values]
    except (binascii.Error, TypeError, ValueError):
        raise ProviderError("bedrock returned an image that is not base64") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# What each task needs from the client, for the messages of a request a model cannot do.
TASK_NAMES = {"generate": "text-to-image", "edit": "image edits", "variation": "variations"}
# OpenAI's `quality` values that mean "the model's usual quality" for every model here.
DEFAULT_QUALITY = (None, "auto", "standard")
# How far image-to-image may move from the input (0 = unchanged, 1 = ignore it), per task.
DEFAULT_STRENGTH = {"edit": 0.7, "variation": 0.5}
# What a variation asks image-to-image for: Stability's API for SD3.5 requires a prompt of at least one
# character and AWS's page does not say an empty one is allowed, so a variation never relies on it.
VARIATION_PROMPT = "the same picture: its subject, composition, colours and style, as a fresh variation"


def aspect_ratio(model: Model, width: int, height: int) -> str | None:
    """The row's aspect ratio for width x height: its native size for a ratio, an exact ratio, or None."""
    ratios: dict[str, str] = model.limit("aspect_ratios", {})
    for ratio, native in ratios.items():
        if native == f"{width}x{height}":
            return ratio
    for ratio in ratios:
        a, b = (int(x) for x in ratio.split(":"))
        if width * b == height * a:
            return ratio
    return None


class StableImage:
    """Stability SD3.5 Large and Stable Image Ultra/Core: width/height pick the aspect ratio only.

    The model chooses the resolution (about one megapixel): width and height must be one of the
    row's native sizes (e.g. 1344x768 for 16:9) or exactly one of its ratios (1920x1080); anything
    else is a 400 rather than a silently different shape.
    """

    def validate(self, model: Model, p: Params) -> None:
        if p.task not in model.tasks:
            can = ", ".join(TASK_NAMES[t] for t in model.tasks)
            raise invalid("model", f"{model.name} cannot do {TASK_NAMES[p.task]} (it does {can})")
        check_length("prompt", p.prompt, model.limit("prompt"), model.name)
        check_length("negative_prompt", p.negative_prompt, model.limit("prompt"), model.name)
        check_range("n", p.n, 1, MAX_N, model.name)
        if p.quality not in DEFAULT_QUALITY:
            raise invalid("quality", f"{p.quality!r} cannot be honoured by {model.name}; leave it out")
        check_output_format(p.output_format, model.output_formats, model.name)
        refuse("steps", p.steps, model.name)
        refuse("cfg_scale", p.cfg_scale, model.name)
        check_range("seed", p.seed, *model.limit("seed"), model.name)
        if p.task == "generate":
            refuse("strength", p.strength, model.name)
            width, height = p.width or 1024, p.height or 1024
            if width < 1 or height < 1 or aspect_ratio(model, width, height) is None:
                ratios = ", ".join(model.limit("aspect_ratios"))
                raise invalid("size", f"{width}x{height} is not one of {model.name}'s aspect ratios {ratios}")
            return
        self.validate_source(model, p)

    def validate_source(self, model: Model, p: Params) -> None:
        """An edit or variation: the output takes the input image's shape, so no size; the image
        within the row's limits; a mask only where the model takes one."""
        if p.image is None:
            raise invalid("image", f"{model.name} needs an image")
        check_source(model, p.image, "image")
        if p.width is not None or p.height is not None:
            raise invalid("size", f"{model.name} keeps the input image's size; leave size out (or auto)")
        check_range("strength", p.strength, *model.limit("strength", (0, 1)), model.name)
        if p.mask is not None and model.family != "stability-inpaint":
            raise invalid("mask", f"{model.name} takes no mask; use an inpainting model for masked edits")

    def body(self, model: Model, p: Params, encoded: str | None = None) -> dict:
        body = {
            "prompt": p.prompt,
            "output_format": p.output_format or "png",
            "seed": p.seed if p.seed is not None else 0,
        }
        if p.task == "generate":  # text-to-image is the default mode: no `mode` (Core's page has none)
            body["aspect_ratio"] = aspect_ratio(model, p.width or 1024, p.height or 1024)
        else:
            strength = p.strength if p.strength is not None else DEFAULT_STRENGTH[p.task]
            body |= {"mode": "image-to-image", "image": encoded or b64(p.image), "strength": strength}
            if not body["prompt"].strip():  # a variation: image-to-image needs a prompt
                body["prompt"] = VARIATION_PROMPT
        if p.negative_prompt:
            body["negative_prompt"] = p.negative_prompt
        return body

    def parse(self, model: Model, payload: dict) -> list[bytes]:
        reasons = [r for r in payload.get("finish_reasons") or [] if r is not None]
        filtered = [r for r in reasons if str(r).lower().startswith("filter reason")]
        if filtered:
            raise ContentFiltered(str(filtered[0]))
        if reasons:
            raise ProviderError(f"{model.name} failed: {reasons[0]}")
        return decode_images(payload.get("images"))


class StableInpaint(StableImage):
    """Stability AI Image Services Inpaint: the image, a mask (white = repaint) and a prompt."""

    def validate(self, model: Model, p: Params) -> None:
        if not p.prompt.strip():
            raise invalid("prompt", f"{model.name} needs a prompt describing the repainted area")
        if p.mask is None:
            raise invalid("mask", f"{model.name} needs a mask: a PNG whose transparent pixels mark the area to edit")
        super().validate(model, p)

    def body(self, model: Model, p: Params, encoded: str | None = None) -> dict:
        body = {
            "prompt": p.prompt,
            "image": encoded or b64(p.image),
            "mask": b64(p.mask),
            "output_format": p.output_format or "png",
        }
        if p.seed is not None:
            body["seed"] = p.seed
        if p.negative_prompt:
            body["negative_prompt"] = p.negative_prompt
        return body


def check_source(model: Model, data: bytes, field: str) -> None:
    """An input image within the row's limits (type, smallest side, pixels, aspect), before any upload."""
    limits = model.limit("image", {})
    if formats.sniff(data) not in limits.get("types", ()):
        raise invalid(field, f"{model.name} takes {', '.join(limits.get('types', ()))} images")
    from imagegen.images import pillow  # only edits open images: generations never import it

    width, height = pillow.dimensions(data, field)
    if min(width, height) < limits["min_side"]:
        raise invalid(field, f"{width}x{height}: {model.name} needs at least {limits['min_side']} px a side")
    if width * height > limits["max_pixels"]:
        raise invalid(field, f"{width}x{height} is over {model.name}'s {limits['max_pixels']:,} pixels")
    low, high = limits["aspect"]
    if not low <= width / height <= high:
        raise invalid(field, f"{width}x{height}: {model.name} takes aspect ratios from {low} to {high}")


ADAPTERS = {"stability-sd3": StableImage(), "stability-inpaint": StableInpaint()}


def adapter_for(model: Model) -> StableImage:
    try:
        return ADAPTERS[model.family]
    except KeyError:
        raise ConfigError(f"{model.name}: Bedrock request family {model.family!r} has no adapter") from None


def validate(model: Model, params: Params) -> None:
    adapter_for(model).validate(model, params)


def calls(model: Model, ref: str, params: Params) -> list[Callable[[], list[bytes]]]:
    """One call per `limits.n` images (each with its own seed, so they differ), the source image
    base64-encoded once for all of them (a 5 MB photo is 6.7 MB on the wire: encoded n times, and held
    by n calls at once, it was what overran an edit function's memory)."""
    per_call = model.limit("n", 1)
    top = model.limit("seed")[1]
    encoded = b64(params.image) if params.image is not None else None
    runtime.runtime_client("bedrock-runtime", model.region)  # made here, before the calls' threads share it
    return [
        partial(
            invoke_once,
            model,
            replace(
                params,
                n=min(per_call, params.n - start),
                seed=None if params.seed is None else (params.seed + start) % top,
            ),
            encoded,
        )
        for start in range(0, params.n, per_call)
    ]


def invoke_once(model: Model, params: Params, encoded: str | None = None) -> list[bytes]:
    """Invoke the model once, in its own region, and return the images' bytes (`encoded`: the source
    image in base64, when the caller has it already)."""
    adapter = adapter_for(model)
    body = json.dumps(adapter.body(model, params, encoded))
    response = runtime.call(
        "bedrock",
        lambda: runtime.runtime_client("bedrock-runtime", model.region).invoke_model(
            modelId=model.ref, body=body, contentType="application/json", accept="application/json"
        ),
    )
    try:
        payload = json.loads(response["body"].read())
    except ValueError:
        raise ProviderError("bedrock returned a body that is not JSON") from None
    return adapter.parse(model, payload)
