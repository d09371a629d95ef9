"""Offline Bedrock Runtime and SageMaker Runtime: local HTTP fakes speaking the real wire format.

botocore is pointed here with its own service-specific endpoint variables
(`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`), so the production
code path is unchanged: the same signed requests, the same response JSON, real ClientErrors.

- `POST /model/{modelId}/invoke` (model id URL-encoded): answers each family's documented
  JSON (SDXL `artifacts`, Nova Canvas/Titan `images`, SD3.5/Stable Image `images` + `seeds` +
  `finish_reasons`) with real PNG images of the requested size; SD3.5's image-to-image and
  Stability Inpaint (`image`, `mask`) answer an image the size of the input.
- `POST /endpoints/{EndpointName}/invocations`: the SageMaker Stable Diffusion container's
  `{"generated_images": [<base64 JPEG>], "prompt"}` for `Accept: application/json;jpeg`.
- Errors are AWS JSON errors: an `x-amzn-ErrorType` header and `{"message": ...}`, with the
  status code the real service uses, so botocore raises the real error codes.

Requests are checked against the documented formats (a missing or malformed field is a
ValidationException, as on Bedrock), so a test against the fake also checks our adapters.

Trigger words in a prompt (case-insensitive) make the fake misbehave on purpose:

- `[filtered]`: each Bedrock family's own content-filter answer (SDXL
  `finishReason: CONTENT_FILTERED`; Nova/Titan a ValidationException "This request has been
  blocked by our content filters."; SD3.5 `finish_reasons: ["Filter reason: prompt"]`).
- `[throttle]`: ThrottlingException (429 on Bedrock, 400 on SageMaker, as the real ones).
- `[model-error]`: ModelErrorException (Bedrock) / ModelError (SageMaker), 424.
- `[access-denied]`: 403 AccessDeniedException (model access not enabled).
- `[slow:N]`: answer after N seconds (read timeouts).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from localdev import pictures

log = logging.getLogger("imagegen.localdev")

FAKE_ENDPOINT = "imagegen-fake-stable-diffusion"
SD3_SIZES = {  # the ~1 megapixel outputs of SD3.5 Large / Stable Image per aspect ratio
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "2:3": (832, 1216),
    "3:2": (1216, 832),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}
MAX_SIDE = 4096


# --- real image bytes, no third-party imaging library ------------------------------------


def colour(*parts: object) -> tuple[int, int, int]:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return digest[0], digest[1], digest[2]


def png(width: int, height: int, rgb: tuple[int, int, int], text: str = "") -> bytes:
    """An 8-bit RGB PNG: a vertical gradient from `rgb`, with `text` in a tEXt chunk."""
    r, g, b = rgb
    return pictures.png(width, height, lambda x, y: (r, g, (b + y) & 0xFF), text)


def jpeg(width: int, height: int, rgb: tuple[int, int, int], text: str = "") -> bytes:
    """A baseline JPEG of one solid colour (YCbCr 4:4:4), `text` in a COM segment.

    A solid block has only a DC coefficient, so with a quantisation table of ones and two tiny
    Huffman tables (DC: the few categories used; AC: end-of-block only) the whole encoder is a
    bit writer. Every decoder reads it; no imaging library needed.
    """
    r, g, b = rgb
    ycc = (
        0.299 * r + 0.587 * g + 0.114 * b,
        128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
        128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
    )
    dcs = [max(-1023, min(1016, round(8 * (v - 128)))) for v in ycc]  # DC of a flat block, q=1
    categories = sorted({0, *(abs(d).bit_length() for d in dcs)})
    codes = {cat: (i, 3) for i, cat in enumerate(categories)}  # all length 3: 000, 001, 010, 011

    bits: list[int] = []

    def put(value: int, length: int) -> None:
        bits.extend((value >> (length - 1 - i)) & 1 for i in range(length))

    def block(diff: int) -> None:
        cat = abs(diff).bit_length()
        put(*codes[cat])
        if cat:
            put(diff if diff > 0 else diff + (1 << cat) - 1, cat)
        put(0, 1)  # AC: end of block

    mcus = ((width + 7) // 8) * ((height + 7) // 8)
    for d in dcs:  # the first MCU carries each component's DC...
        block(d)
    for _ in range(mcus - 1):  # ...every later one a difference of 0
        for _ in dcs:
            block(0)
    bits.extend([1] * (-len(bits) % 8))
    data = bytearray()
    for i in range(0, len(bits), 8):
        byte = int("".join(map(str, bits[i : i + 8])), 2)
        data.append(byte)
        if byte == 0xFF:
            data.append(0x00)  # byte stuffing

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    counts = [0] * 16
    counts[2] = len(categories)
    ac_counts = [1] + [0] * 15
    return b"".join(
        [
            b"\xff\xd8",
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xFE, text.encode("latin-1", "replace")[:60000]) if text else b"",
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC0, struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"),
            segment(0xC4, b"\x00" + bytes(counts) + bytes(categories)),
            segment(0xC4, b"\x10" + bytes(ac_counts) + b"\x00"),
            segment(0xDA, b"\x03\x01\x00\x02\x00\x03\x00\x00\x3f\x00"),
            bytes(data),
            b"\xff\xd9",
        ]
    )


# --- the fake services --------------------------------------------------------------------


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def validation(message: str) -> AwsError:
    return AwsError(400, "ValidationException", f"Malformed input request: {message}, please reformat your input")


def family(model_id: str) -> str:
    base = model_id.split("/")[-1]
    parts = base.split(".")
    if len(parts) > 2 and parts[1] in ("amazon", "stability"):
        base = ".".join(parts[1:])  # cross-region inference profile: us.amazon.nova-canvas-v1:0
    for prefix, name in (
        ("stability.stable-image-inpaint", "inpaint"),
        ("stability.stable-diffusion-xl", "sdxl"),
        ("amazon.nova-canvas", "nova"),
        ("amazon.titan-image-generator", "nova"),
        ("stability.sd3", "sd3"),
        ("stability.stable-image", "sd3"),
    ):
        if base.startswith(prefix):
            return name
    raise AwsError(400, "ValidationException", "The provided model identifier is invalid.")


def triggers(prompt: str, service: str) -> None:
    lowered = prompt.lower()
    slow = re.search(r"\[slow:(\d+(?:\.\d+)?)\]", lowered)
    if slow:
        time.sleep(float(slow.group(1)))
    if "[throttle]" in lowered:
        status = 429 if service == "bedrock" else 400
        raise AwsError(status, "ThrottlingException", "Too many requests, please wait before trying again.")
    if "[model-error]" in lowered:
        code = "ModelErrorException" if service == "bedrock" else "ModelError"
        raise AwsError(424, code, "The model failed to process the request (fake model error).")
    if "[access-denied]" in lowered:
        raise AwsError(403, "AccessDeniedException", "You don't have access to the model with the specified model ID.")


def need(body: dict, name: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise validation(f"required key [{name}] not found")
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise validation(f"#/{name}: expected type: {getattr(kind, '__name__', kind)}")
    return value


def size(width: int, height: int) -> tuple[int, int]:
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise validation("width and height must be between 1 and 4096")
    return width, height


def encode(images: list[bytes]) -> list[str]:
    return [base64.b64encode(i).decode() for i in images]


def invoke_sdxl(model_id: str, body: dict) -> dict:
    prompts = need(body, "text_prompts", list)
    if not prompts or not all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in prompts):
        raise validation("#/text_prompts: each item needs a text")
    positive = " ".join(p["text"] for p in prompts if p.get("weight", 1) > 0)
    triggers(positive, "bedrock")
    width, height = size(need(body, "width", int, False) or 1024, need(body, "height", int, False) or 1024)
    seed = need(body, "seed", int, False) or 0
    for name in ("cfg_scale", "steps"):
        need(body, name, (int, float), False)
    if "[filtered]" in positive.lower():
        return {"result": "success", "artifacts": [{"seed": seed, "base64": "", "finishReason": "CONTENT_FILTERED"}]}
    image = png(width, height, colour(model_id, positive, seed), positive)
    return {"result": "success", "artifacts": [{"seed": seed, "base64": encode([image])[0], "finishReason": "SUCCESS"}]}


def invoke_nova(model_id: str, body: dict) -> dict:
    if body.get("taskType") != "TEXT_IMAGE":
        raise validation("#/taskType: TEXT_IMAGE is the only task this fake knows")
    params = need(body, "textToImageParams", dict)
    text = params.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= 1024:
        raise validation("#/textToImageParams/text: expected minLength: 1, maxLength: 1024")
    triggers(text, "bedrock")
    if "[filtered]" in text.lower():
        raise AwsError(400, "ValidationException", "This request has been blocked by our content filters.")
    config = need(body, "imageGenerationConfig", dict, False) or {}
    count = config.get("numberOfImages", 1)
    if not isinstance(count, int) or not 1 <= count <= 5:
        raise validation("#/imageGenerationConfig/numberOfImages: must be 1..5")
    width, height = size(config.get("width", 1024), config.get("height", 1024))
    if width % 16 or height % 16:
        raise validation("#/imageGenerationConfig: width and height must be divisible by 16")
    seed = config.get("seed", 12)
    images = [png(width, height, colour(model_id, text, seed, i), text) for i in range(count)]
    return {"images": encode(images), "error": None}


def source_image(body: dict, name: str) -> tuple[int, int]:
    """A base64 input image (PNG, JPEG or WebP, at least 64 px a side: Stability's limits); its size."""
    try:
        data = base64.b64decode(need(body, name, str), validate=True)
    except ValueError:
        raise validation(f"#/{name}: not valid base64") from None
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        width, height = struct.unpack(">II", data[16:24])
    elif data.startswith(b"\xff\xd8\xff") or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        width = height = 1024  # the fake reads PNG sizes only
    else:
        raise validation(f"#/{name}: must be a PNG, JPEG or WebP image")
    if width < 64 or height < 64:
        raise validation(f"#/{name}: images must be at least 64 pixels on each side")
    return width, height


def stability_answer(prompt: str, seed: int, width: int, height: int, fmt: str, *parts: object) -> dict:
    triggers(prompt, "bedrock")
    if "[filtered]" in prompt.lower():
        return {"seeds": [seed], "finish_reasons": ["Filter reason: prompt"], "images": []}
    make = png if fmt == "png" else jpeg
    image = make(width, height, colour(prompt, seed, *parts))
    return {"seeds": [seed], "finish_reasons": [None], "images": encode([image])}


def output_format(body: dict) -> str:
    fmt = body.get("output_format", "png")
    if fmt not in ("png", "jpeg"):
        raise validation(f"#/output_format: {fmt} is not a valid enum value")
    return fmt


def invoke_sd3(model_id: str, body: dict) -> dict:
    """SD3.5 / Stable Image: text-to-image (aspect_ratio), or image-to-image (image, strength) on SD3.5."""
    prompt = need(body, "prompt", str)
    seed = need(body, "seed", int, False) or 0
    mode = body.get("mode", "text-to-image")
    if mode == "image-to-image":
        if "sd3-5" not in model_id:
            raise validation("#/mode: image-to-image is not supported by this model")
        if "aspect_ratio" in body:
            raise validation("#/aspect_ratio: only valid for text-to-image requests")
        strength = need(body, "strength", (int, float))
        if not 0 <= strength <= 1:
            raise validation("#/strength: must be between 0 and 1")
        width, height = source_image(body, "image")
        return stability_answer(prompt, seed, width, height, output_format(body), "i2i", strength)
    if mode != "text-to-image":
        raise validation(f"#/mode: {mode} is not a valid enum value")
    if not prompt:
        raise validation("#/prompt: expected minLength: 1")
    ratio = body.get("aspect_ratio", "1:1")
    if ratio not in SD3_SIZES:
        raise validation(f"#/aspect_ratio: {ratio} is not a valid enum value")
    return stability_answer(prompt, seed, *SD3_SIZES[ratio], output_format(body))


def invoke_inpaint(model_id: str, body: dict) -> dict:
    """Stability Image Services Inpaint: image, mask (white = repaint) and prompt; the image's size out."""
    prompt = need(body, "prompt", str)
    if not prompt:
        raise validation("#/prompt: expected minLength: 1")
    width, height = source_image(body, "image")
    mask_size = source_image(body, "mask")
    if body["image"].startswith("iVBOR") and mask_size != (width, height):  # both PNGs: sizes known
        raise validation("#/mask: must be the size of the image")
    return stability_answer(prompt, need(body, "seed", int, False) or 0, width, height, output_format(body), "inpaint")


def invoke_endpoint(endpoint: str, body: dict, accept: str) -> dict:
    if accept.replace(" ", "") != "application/json;jpeg":
        raise AwsError(424, "ModelError", "Received client error (400) from primary: this fake answers json;jpeg only")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise AwsError(424, "ModelError", "Received client error (400) from primary: prompt is required")
    triggers(prompt, "sagemaker")
    width, height = size(body.get("width", 512), body.get("height", 512))
    count = body.get("num_images_per_prompt", 1)
    seed = body.get("seed", 0)
    images = [jpeg(width, height, colour(endpoint, prompt, seed, i), prompt) for i in range(count)]
    return {"generated_images": encode(images), "prompt": prompt}


class FakeModels(ThreadingHTTPServer):
    """Bedrock Runtime and SageMaker Runtime on one local port. `requests` records what came in."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)):
        super().__init__(address, FakeHandler)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.latency = 0.0  # seconds every invocation takes before answering (make bench: a fixed model time)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def record(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)

    def start(self) -> FakeModels:
        threading.Thread(target=self.serve_forever, name="fake-models", daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeModels
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("fake models: " + fmt, *args)

    def reply(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        for name, value in {"content-type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-amzn-requestid", os.urandom(16).hex())
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        path = urlsplit(self.path).path
        time.sleep(self.server.latency)
        try:
            try:
                body = json.loads(raw)
            except ValueError:
                raise validation("the body is not JSON") from None
            if not isinstance(body, dict):
                raise validation("the body must be a JSON object")
            model = re.fullmatch(r"/model/([^/]+)/invoke", path)
            endpoint = re.fullmatch(r"/endpoints/([^/]+)/invocations", path)
            if model:
                model_id = unquote(model.group(1))
                self.server.record(
                    {"service": "bedrock", "model": model_id, "body": body, "headers": dict(self.headers)}
                )
                handler = {"sdxl": invoke_sdxl, "nova": invoke_nova, "sd3": invoke_sd3, "inpaint": invoke_inpaint}[
                    family(model_id)
                ]
                self.reply(200, handler(model_id, body), {"x-amzn-bedrock-invocation-latency": "1"})
            elif endpoint:
                name = unquote(endpoint.group(1))
                self.server.record(
                    {"service": "sagemaker", "endpoint": name, "body": body, "headers": dict(self.headers)}
                )
                accept = self.headers.get("accept", "")
                self.reply(200, invoke_endpoint(name, body, accept), {"content-type": "application/json;jpeg"})
            else:
                raise AwsError(404, "UnknownOperationException", f"no operation at {path}")
        except AwsError as err:
            self.reply(
                err.status,
                {"message": err.message},
                {"x-amzn-ErrorType": f"{err.code}:http://internal.amazon.com/coral/com.amazon.bedrock/"},
            )


# --- make serve ---------------------------------------------------------------------------


def has_real_credentials() -> bool:
    """True if boto3 would find an account: a key that is not LocalStack's `test`, or a profile."""
    if os.environ.get("AWS_PROFILE"):
        return True
    key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    return bool(key) and key != "test"


def start_offline_models(host: str = "127.0.0.1", port: int = 0) -> list[str]:
    """For `make serve`: without real AWS credentials, serve Bedrock and SageMaker from the fake.

    Sets the service-specific endpoint variables botocore reads, a SageMaker endpoint name,
    and IMAGEGEN_MODELS_OFFLINE=1 (job records then say `"offline": true`). Returns banner lines.
    """
    del host, port  # the API server's address; the fake always listens on a free local port
    if has_real_credentials() and os.environ.get("IMAGEGEN_MODELS_OFFLINE") != "1":
        endpoint = os.environ.get("SAGEMAKER_ENDPOINT_NAME") or "(off: SAGEMAKER_ENDPOINT_NAME unset)"
        return ["bedrock     real Amazon Bedrock (your AWS credentials)", f"sagemaker   {endpoint}"]
    fake = FakeModels().start()
    os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = fake.url
    os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = fake.url
    os.environ.setdefault("SAGEMAKER_ENDPOINT_NAME", FAKE_ENDPOINT)
    os.environ["IMAGEGEN_MODELS_OFFLINE"] = "1"
    return [
        f"bedrock     OFFLINE (local fake at {fake.url}: real response formats, generated PNGs)",
        f"sagemaker   OFFLINE (local fake endpoint {os.environ['SAGEMAKER_ENDPOINT_NAME']}, generated JPEGs)",
        '            jobs from these fakes say "offline": true; prompt [filtered] / [throttle] try the errors',
    ]
