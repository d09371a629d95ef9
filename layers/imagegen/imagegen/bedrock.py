"""Amazon Bedrock text-to-image: one small adapter per request/response format.

Model ids are configuration (Bedrock retires models); the adapter is picked by the id's
family prefix, so a new version of a known family needs no code. An id of an unknown
family is a configuration error (see `adapter_for`).

- SDXL (`stability.stable-diffusion-xl`): `text_prompts` (negative prompt at weight -1),
  `cfg_scale`, `seed`, `steps`, `width`, `height`, `samples`; answers `artifacts[].base64`
  with a `finishReason` each.
- Nova Canvas (`amazon.nova-canvas`; Titan Image Generator, `amazon.titan-image-generator`,
  used the same format): `taskType: TEXT_IMAGE`, `textToImageParams`, `imageGenerationConfig`;
  answers `images[]` and `error`.
- SD3.5 Large / Stable Image (`stability.sd3`, `stability.stable-image`): `prompt`,
  `negative_prompt`, `seed`, `aspect_ratio`, `output_format`, `mode`; answers `images[]`,
  `seeds[]`, `finish_reasons[]` (null = ok, "Filter reason: ..." = filtered).

- Edits: SD3.5 Large's `mode: image-to-image` (`image`, `strength`; also serves variations, with
  an empty prompt, which AWS documents as allowed: prompt 0..10,000 characters), and Stability
  Image Services Inpaint (`stability.stable-image-inpaint`: `image`, `mask`, `prompt`; white mask
  pixels are repainted, black kept), answering like SD3.5. Nova Canvas also had IMAGE_VARIATION
  and INPAINTING, but it reached end of life on 2026-09-30 (Bedrock model lifecycle), so those
  tasks are not built; its text-to-image format stays for deployments that still have access.

SDXL and the SD3.5/Stable Image models return one image per call on Bedrock, so they accept
`n: 1` only (a 400 otherwise): calling them n times would multiply a latency that is
already close to API Gateway's 30 s limit and trip their low per-minute quotas.
Each adapter states the tasks it can do; any other task is a 400 naming the model.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, replace
from fractions import Fraction

from imagegen import images, invoke
from imagegen.config import ConfigError
from imagegen.invoke import ContentFiltered, Params, ProviderError, check_length, check_range, invalid, refuse


def decode_images(values: object) -> list[bytes]:
    if not isinstance(values, list) or not values:
        raise ProviderError("bedrock returned no images")
    try:
        return [base64.b64decode(value, validate=True) for value in values]
    except (binascii.Error, TypeError, ValueError):
        raise ProviderError("bedrock returned an image that is not base64") from None


# What each task needs from the client, for the messages of a request a model cannot do.
TASK_NAMES = {"generate": "text-to-image", "edit": "image edits", "variation": "variations"}
# OpenAI's `quality` values that mean "the model's usual quality" for every model here.
DEFAULT_QUALITY = (None, "auto", "standard")


@dataclass(frozen=True)
class Adapter:
    name: str
    prefixes: tuple[str, ...]
    max_prompt: int
    max_n: int
    tasks: tuple[str, ...] = ("generate",)

    def validate(self, p: Params) -> None:
        if p.task not in self.tasks:
            can = ", ".join(TASK_NAMES[t] for t in self.tasks)
            raise invalid("model", f"{self.name} cannot do {TASK_NAMES[p.task]} (it does {can})")
        check_length("prompt", p.prompt, self.max_prompt, self.name)
        check_length("negative_prompt", p.negative_prompt, self.max_prompt, self.name)
        check_range("n", p.n, 1, self.max_n, self.name)
        if p.quality not in DEFAULT_QUALITY:
            raise invalid("quality", f"{p.quality!r} cannot be honoured by {self.name}; leave it out")
        if p.task == "generate":
            refuse("strength", p.strength, self.name)

    def body(self, p: Params) -> dict:
        raise NotImplementedError

    def parse(self, payload: dict) -> list[bytes]:
        raise NotImplementedError


SDXL_SIZES = frozenset(
    {
        (1024, 1024),
        (1152, 896),
        (1216, 832),
        (1344, 768),
        (1536, 640),
        (640, 1536),
        (768, 1344),
        (832, 1216),
        (896, 1152),
    }
)


class Sdxl(Adapter):
    """Stability SDXL 1.0: the format of the Bedrock seeds."""

    def validate(self, p: Params) -> None:
        super().validate(p)
        size = (p.width or 1024, p.height or 1024)
        if size not in SDXL_SIZES:
            allowed = ", ".join(f"{w}x{h}" for w, h in sorted(SDXL_SIZES))
            raise invalid(
                "width" if p.width else "height", f"{size[0]}x{size[1]} is not an SDXL size; use one of {allowed}"
            )
        check_range("steps", p.steps, 10, 50, self.name)
        check_range("cfg_scale", p.cfg_scale, 0, 35, self.name)
        check_range("seed", p.seed, 0, 4294967295, self.name)

    def body(self, p: Params) -> dict:
        prompts = [{"text": p.prompt, "weight": 1.0}]
        if p.negative_prompt:
            prompts.append({"text": p.negative_prompt, "weight": -1.0})
        return {
            "text_prompts": prompts,
            "cfg_scale": p.cfg_scale if p.cfg_scale is not None else 7,
            "seed": p.seed if p.seed is not None else 0,
            "steps": p.steps or 30,
            "width": p.width or 1024,
            "height": p.height or 1024,
            "samples": 1,
        }

    def parse(self, payload: dict) -> list[bytes]:
        artifacts = payload.get("artifacts") or []
        reasons = {a.get("finishReason") for a in artifacts}
        if "CONTENT_FILTERED" in reasons:
            raise ContentFiltered("finishReason CONTENT_FILTERED")
        if reasons - {"SUCCESS", None}:
            raise ProviderError(f"SDXL finished with {sorted(r for r in reasons if r)}")
        return decode_images([a.get("base64") for a in artifacts])


# OpenAI's quality values as Nova Canvas's two tiers.
NOVA_QUALITY = {"low": "standard", "medium": "standard", "standard": "standard", "hd": "premium", "high": "premium"}


class NovaCanvas(Adapter):
    """Amazon Nova Canvas; Titan Image Generator v1/v2 used the same format. `quality` maps to its
    standard/premium tiers (OpenAI's hd/high -> premium; low/medium/standard -> standard)."""

    def validate(self, p: Params) -> None:
        if p.quality is not None and p.quality != "auto" and p.quality not in NOVA_QUALITY:
            raise invalid("quality", f"{p.quality!r}: use one of {', '.join(NOVA_QUALITY)} or auto")
        super().validate(replace(p, quality=None))
        width, height = p.width or 1024, p.height or 1024
        for field, value in (("width", width), ("height", height)):
            if not 320 <= value <= 4096 or value % 16:
                raise invalid(field, f"{value} must be 320..4096 and divisible by 16 for {self.name}")
        if not Fraction(1, 4) <= Fraction(width, height) <= 4:
            raise invalid("width", f"{width}x{height}: the aspect ratio must be between 1:4 and 4:1")
        if width * height > 4_194_304:
            raise invalid("width", f"{width}x{height} is over {self.name}'s 4,194,304 pixels (2048x2048)")
        check_range("cfg_scale", p.cfg_scale, 1.1, 10, self.name)
        check_range("seed", p.seed, 0, 858_993_459, self.name)
        refuse("steps", p.steps, self.name)

    def body(self, p: Params) -> dict:
        params = {"text": p.prompt}
        if p.negative_prompt:
            params["negativeText"] = p.negative_prompt
        config: dict = {"numberOfImages": p.n, "width": p.width or 1024, "height": p.height or 1024}
        if p.cfg_scale is not None:
            config["cfgScale"] = p.cfg_scale
        if p.seed is not None:
            config["seed"] = p.seed
        if p.quality in NOVA_QUALITY:
            config["quality"] = NOVA_QUALITY[p.quality]
        return {"taskType": "TEXT_IMAGE", "textToImageParams": params, "imageGenerationConfig": config}

    def parse(self, payload: dict) -> list[bytes]:
        error = payload.get("error")
        if error:
            if invoke.looks_filtered(str(error)):
                raise ContentFiltered(str(error))
            raise ProviderError(f"{self.name} failed: {error}")
        return decode_images(payload.get("images"))


SD3_RATIOS = ("1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
# The ~1 megapixel size the models render for each ratio; these are accepted as that ratio too.
SD3_NATIVE = {
    (1024, 1024): "1:1",
    (1344, 768): "16:9",
    (1536, 640): "21:9",
    (832, 1216): "2:3",
    (1216, 832): "3:2",
    (896, 1088): "4:5",
    (1088, 896): "5:4",
    (768, 1344): "9:16",
    (640, 1536): "9:21",
}


def aspect_ratio(width: int, height: int) -> str | None:
    """The SD3.5/Stable Image aspect ratio for width x height: a native size, an exact ratio, or None."""
    if (width, height) in SD3_NATIVE:
        return SD3_NATIVE[(width, height)]
    for ratio in SD3_RATIOS:
        a, b = (int(x) for x in ratio.split(":"))
        if width * b == height * a:
            return ratio
    return None


class StableImage(Adapter):
    """Stability SD3.5 Large and Stable Image Ultra/Core: width/height pick the aspect ratio only.

    The model chooses the resolution (about one megapixel): width and height must be one of its
    native sizes (SD3_NATIVE, e.g. 1344x768 for 16:9) or exactly one of SD3_RATIOS (1920x1080);
    anything else is a 400 rather than a silently different shape.
    """

    def validate(self, p: Params) -> None:
        super().validate(p)
        if p.task != "generate":
            self.validate_source(p)
            return
        width, height = p.width or 1024, p.height or 1024
        if width < 1 or height < 1 or aspect_ratio(width, height) is None:
            raise invalid(
                "width", f"{width}x{height} is not one of {self.name}'s aspect ratios {', '.join(SD3_RATIOS)}"
            )
        check_range("seed", p.seed, 0, 4294967294, self.name)
        refuse("steps", p.steps, self.name)
        refuse("cfg_scale", p.cfg_scale, self.name)

    def validate_source(self, p: Params) -> None:
        """An edit or variation: the output takes the input image's shape, so no size; a mask only
        where the model takes one."""
        if p.image is None:
            raise invalid("image", f"{self.name} needs an image")
        if images.sniff(p.image) not in SOURCE_TYPES:
            raise invalid("image", f"{self.name} takes PNG, JPEG or WebP images")
        if p.width is not None or p.height is not None:
            raise invalid("size", f"{self.name} keeps the input image's size; leave size out (or auto)")
        refuse("steps", p.steps, self.name)
        refuse("cfg_scale", p.cfg_scale, self.name)
        check_range("seed", p.seed, 0, 4294967294, self.name)
        check_range("strength", p.strength, 0, 1, self.name)
        if p.mask is not None:
            raise invalid("mask", f"{self.name} takes no mask; use an inpainting model for masked edits")

    def body(self, p: Params) -> dict:
        body = {"prompt": p.prompt, "output_format": "png", "seed": p.seed if p.seed is not None else 0}
        if p.task == "generate":
            body |= {"mode": "text-to-image", "aspect_ratio": aspect_ratio(p.width or 1024, p.height or 1024)}
        else:
            strength = p.strength if p.strength is not None else DEFAULT_STRENGTH[p.task]
            body |= {"mode": "image-to-image", "image": base64.b64encode(p.image).decode(), "strength": strength}
        if p.negative_prompt:
            body["negative_prompt"] = p.negative_prompt
        return body

    def parse(self, payload: dict) -> list[bytes]:
        reasons = [r for r in payload.get("finish_reasons") or [] if r is not None]
        filtered = [r for r in reasons if str(r).lower().startswith("filter reason")]
        if filtered:
            raise ContentFiltered(str(filtered[0]))
        if reasons:
            raise ProviderError(f"{self.name} failed: {reasons[0]}")
        return decode_images(payload.get("images"))


class StableInpaint(StableImage):
    """Stability AI Image Services Inpaint: the image, a mask (white = repaint) and a prompt."""

    def validate(self, p: Params) -> None:
        Adapter.validate(self, p)
        if not p.prompt.strip():
            raise invalid("prompt", f"{self.name} needs a prompt describing the repainted area")
        if p.mask is None:
            raise invalid("mask", f"{self.name} needs a mask: a PNG whose transparent pixels mark the area to edit")
        self.validate_source(replace(p, mask=None))

    def body(self, p: Params) -> dict:
        body = {
            "prompt": p.prompt,
            "image": base64.b64encode(p.image).decode(),
            "mask": base64.b64encode(p.mask).decode(),
            "output_format": "png",
        }
        if p.seed is not None:
            body["seed"] = p.seed
        if p.negative_prompt:
            body["negative_prompt"] = p.negative_prompt
        return body


SOURCE_TYPES = ("image/png", "image/jpeg", "image/webp")
# How far image-to-image may move from the input (0 = unchanged, 1 = ignore it), per task.
DEFAULT_STRENGTH = {"edit": 0.7, "variation": 0.5}

# Order matters: the first adapter whose prefix matches wins (sd3-5 before sd3).
ADAPTERS: tuple[Adapter, ...] = (
    Sdxl("Stability SDXL", ("stability.stable-diffusion-xl",), max_prompt=2000, max_n=1),
    NovaCanvas("Nova Canvas", ("amazon.nova-canvas", "amazon.titan-image-generator"), max_prompt=1024, max_n=4),
    StableImage("Stability SD3.5 Large", ("stability.sd3-5",), 10000, 1, ("generate", "edit", "variation")),
    StableInpaint("Stability Inpaint", ("stability.stable-image-inpaint",), 10000, 1, ("edit",)),
    StableImage("Stability SD3/Stable Image", ("stability.sd3", "stability.stable-image"), 10000, 1),
)


def adapter_for(model_id: str) -> Adapter:
    """The adapter for a model id, ignoring a cross-region inference profile prefix (`us.`, `eu.` ...)."""
    base = model_id.split("/")[-1]  # an ARN ends in the model or profile id
    parts = base.split(".")
    if len(parts) > 2 and len(parts[0]) <= 4 and parts[1] in ("amazon", "stability"):
        base = ".".join(parts[1:])
    for adapter in ADAPTERS:
        if base.startswith(adapter.prefixes):
            return adapter
    known = ", ".join(prefix for a in ADAPTERS for prefix in a.prefixes)
    raise ConfigError(f"Bedrock model {model_id!r} has no known request format (known families: {known})")


def validate(model_id: str, params: Params) -> None:
    adapter_for(model_id).validate(params)


def generate(model_id: str, params: Params) -> list[bytes]:
    """Invoke the model once and return the images' bytes (validate first)."""
    adapter = adapter_for(model_id)
    body = json.dumps(adapter.body(params))
    response = invoke.call(
        "bedrock",
        lambda: invoke.runtime_client("bedrock-runtime").invoke_model(
            modelId=model_id, body=body, contentType="application/json", accept="application/json"
        ),
    )
    try:
        payload = json.loads(response["body"].read())
    except ValueError:
        raise ProviderError("bedrock returned a body that is not JSON") from None
    return adapter.parse(payload)
