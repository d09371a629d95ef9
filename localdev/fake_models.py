"""Offline Bedrock Runtime and SageMaker Runtime: local HTTP fakes speaking the real wire format.

botocore is pointed here with its own service-specific endpoint variables
(`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`, `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`), so the production
code path is unchanged: the same signed requests, the same response JSON, real ClientErrors.

- `POST /model/{modelId}/invoke` (model id URL-encoded): first, is the model offered where it is
  called? The region comes from the request's SigV4 credential scope, and the answer from AWS's own
  lists (ListFoundationModels + ListInferenceProfiles in every region, providers/bedrock-image-models.json,
  never from our catalog): a model not offered in that region, or offered there only through an
  inference profile but called by its bare id, or a profile id whose geography does not serve that
  region, gets the ValidationException AWS answers. Then the documented JSON of SD3.5 / Stable Image
  (`images` + `seeds` + `finish_reasons`) with real PNG images of the aspect ratio's size; SD3.5's
  image-to-image and Stability Inpaint (`image`, `mask`) answer an image the size of the input.
- `POST /endpoints/{EndpointName}/invocations`: the SageMaker Stable Diffusion container's
  `{"generated_images": [<base64 JPEG>], "prompt"}` for `Accept: application/json;jpeg`.
- Errors are AWS JSON errors: an `x-amzn-ErrorType` header and `{"message": ...}`, with the
  status code the real service uses, so botocore raises the real error codes.

Requests are checked against the documented formats (a missing or malformed field is a
ValidationException, as on Bedrock), so a test against the fake also checks our adapters.

Trigger words in a prompt (case-insensitive) make the fake misbehave on purpose:

- `[filtered]`: Stability's content-filter answer (`finish_reasons: ["Filter reason: prompt"]`).
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
from pathlib import Path
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
    return pictures.png_rows(width, height, lambda y: bytes((r, g, (b + y) & 0xFF)) * width, text)


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


OFFERED = json.loads((Path(__file__).with_name("providers") / "bedrock-image-models.json").read_text())["models"]
INVALID_ID = "The provided model identifier is invalid."
# The request format of each model the fake serves, by foundation-model id (AWS model-parameters pages).
FAMILIES = {
    "stability.sd3-5-large-v1:0": "sd3",
    "stability.stable-image-ultra-v1:1": "sd3",
    "stability.stable-image-core-v1:1": "sd3",
    "stability.stable-image-inpaint-v1:0": "inpaint",
}


def region_of(authorization: str) -> str:
    """The region of a SigV4 request: Credential=KEY/DATE/REGION/SERVICE/aws4_request."""
    scope = re.search(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/", authorization or "")
    if not scope:
        raise AwsError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    return scope.group(1)


def offered(model_id: str, region: str) -> str:
    """The foundation-model id, if `model_id` can be invoked in `region` as AWS's lists say; else
    the ValidationException AWS answers."""
    base = model_id.split("/")[-1]  # an ARN ends in the model or profile id
    geography, _, rest = base.partition(".")
    if rest and rest.partition(".")[2] and geography in ("us", "eu", "apac", "jp", "au", "ca", "us-gov", "global"):
        listed = OFFERED.get(rest)
        if not listed or geography.upper() not in listed["inference_types"].get(region, []):
            raise AwsError(400, "ValidationException", INVALID_ID)
        return rest
    listed = OFFERED.get(base)
    if not listed or region not in listed["inference_types"]:
        raise AwsError(400, "ValidationException", INVALID_ID)
    if "ON_DEMAND" not in listed["inference_types"][region]:
        raise AwsError(
            400,
            "ValidationException",
            f"Invocation of model ID {base} with on-demand throughput isn't supported. Retry your request with "
            "the ID or ARN of an inference profile that contains this model.",
        )
    return base


def family(model_id: str, region: str) -> str:
    base = offered(model_id, region)
    if base not in FAMILIES:
        raise AwsError(
            400, "ValidationException", f"Malformed input request: {base} takes a body this fake does not know"
        )
    return FAMILIES[base]


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


# What each Stability model's AWS page lists, per mode: the fields it takes, and the output formats.
# An unlisted field is a ValidationException here (the real service may ignore some: a field the page
# does not document is not one to rely on). Sources, read 2026-12-02:
# SD3.5 Large: docs.aws.amazon.com/bedrock/latest/userguide/model-parameters-diffusion-3-5-large.html
#   (text-to-image: prompt 0..10,000, aspect_ratio, mode, seed, negative_prompt, output_format jpeg|png|webp;
#   image-to-image: prompt, image, strength, mode, seed, negative_prompt, output_format)
# Stable Image Core: ...model-parameters-diffusion-stable-image-core-text-image-request-response.html
#   (stability.stable-image-core-v1:1: prompt, aspect_ratio, output_format JPEG|PNG, seed,
#   negative_prompt; no mode)
# Stable Image Ultra: ...model-parameters-diffusion-stable-ultra-text-image-request-response.html
#   (prompt, mode text-to-image, aspect_ratio, output_format JPEG|PNG, seed, negative_prompt)
# Inpaint: ...stable-image-services.html (prompt 0..10,000, image, mask, negative_prompt, seed,
#   output_format jpeg|png|webp, grow_mask, style_preset)
# A filtered answer is `{"finish_reasons": ["Filter reason: prompt"]}` alone (the SD3.5 page's example).
# Image-to-image needs a prompt of at least one character: AWS's page does not say it may be empty,
# and Stability's own API for the model (/v2beta/stable-image/generate/sd3) requires [1..10000].
PAGES = {
    "stability.sd3-5-large-v1:0": {
        "text-to-image": {"prompt", "mode", "aspect_ratio", "seed", "negative_prompt", "output_format"},
        "image-to-image": {"prompt", "mode", "image", "strength", "seed", "negative_prompt", "output_format"},
        "formats": ("png", "jpeg", "webp"),
    },
    "stability.stable-image-core-v1:1": {
        "text-to-image": {"prompt", "aspect_ratio", "seed", "negative_prompt", "output_format"},
        "formats": ("png", "jpeg"),
    },
    "stability.stable-image-ultra-v1:1": {
        "text-to-image": {"prompt", "mode", "aspect_ratio", "seed", "negative_prompt", "output_format"},
        "formats": ("png", "jpeg"),
    },
    "stability.stable-image-inpaint-v1:0": {
        "inpaint": {"prompt", "image", "mask", "negative_prompt", "seed", "output_format", "grow_mask", "style_preset"},
        "formats": ("png", "jpeg", "webp"),
    },
}


def listed(model_id: str, mode: str, body: dict) -> dict:
    """The model's page for `mode`: a field it does not list, or a mode it has not, is refused."""
    page = PAGES[model_id]
    fields = page.get(mode)
    if fields is None:
        raise validation(f"#/mode: {mode} is not a valid enum value")
    extra = sorted(set(body) - fields)
    if extra:
        raise validation(f"extraneous key [{extra[0]}] is not permitted")
    return page


def webp(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real WebP (Pillow, a dev dependency: the fake only)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), rgb).save(out, format="WEBP")
    return out.getvalue()


def stability_answer(prompt: str, seed: int, width: int, height: int, fmt: str, *parts: object) -> dict:
    """Stability's answer. Seed 0 means a random seed (AWS's model-parameter pages), so it is one."""
    seed = seed or int.from_bytes(os.urandom(4), "big") % 4294967294 + 1
    triggers(prompt, "bedrock")
    if "[filtered]" in prompt.lower():
        return {"finish_reasons": ["Filter reason: prompt"]}
    rgb = colour(prompt, seed, *parts)
    image = webp(width, height, rgb) if fmt == "webp" else (png if fmt == "png" else jpeg)(width, height, rgb, prompt)
    return {"seeds": [seed], "finish_reasons": [None], "images": encode([image])}


def output_format(body: dict, page: dict) -> str:
    fmt = body.get("output_format", "png")
    if fmt not in page["formats"]:
        raise validation(f"#/output_format: {fmt} is not a valid enum value")
    return fmt


def invoke_sd3(model_id: str, body: dict) -> dict:
    """SD3.5 / Stable Image: text-to-image (aspect_ratio), or image-to-image (image, strength) on SD3.5."""
    prompt = need(body, "prompt", str)
    seed = need(body, "seed", int, False) or 0
    mode = body.get("mode", "text-to-image")
    page = listed(model_id, mode, body)
    if mode == "image-to-image":
        if not prompt:
            raise validation("#/prompt: expected minLength: 1")
        strength = need(body, "strength", (int, float))
        if not 0 <= strength <= 1:
            raise validation("#/strength: must be between 0 and 1")
        width, height = source_image(body, "image")
        return stability_answer(prompt, seed, width, height, output_format(body, page), "i2i", strength)
    ratio = body.get("aspect_ratio", "1:1")
    if ratio not in SD3_SIZES:
        raise validation(f"#/aspect_ratio: {ratio} is not a valid enum value")
    return stability_answer(prompt, seed, *SD3_SIZES[ratio], output_format(body, page))


def invoke_inpaint(model_id: str, body: dict) -> dict:
    """Stability Image Services Inpaint: image, mask (white = repaint) and prompt; the image's size out."""
    page = listed(model_id, "inpaint", body)
    prompt = need(body, "prompt", str)  # 0..10,000 characters (the page): it may be empty
    width, height = source_image(body, "image")
    source_image(body, "mask")  # a mask of another size is resized to the image's (AWS's Image Services page)
    # "Every side must be at least 64 pixels. The total pixel count cannot exceed 9,437,184 pixels.
    # Image aspect ratio must be between 1:2.5 and 2.5:1." (AWS, Stability AI Image Services: Inpaint)
    if width * height > 9_437_184:
        raise validation("#/image: the total pixel count cannot exceed 9,437,184 pixels")
    if not 1 / 2.5 <= width / height <= 2.5:
        raise validation("#/image: the aspect ratio must be between 1:2.5 and 2.5:1")
    fmt = output_format(body, page)
    return stability_answer(prompt, need(body, "seed", int, False) or 0, width, height, fmt, "inpaint")


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


def quota_setting(value: str) -> tuple[int, float] | None:
    """FAKE_BEDROCK_QUOTA: "10/60" is 10 requests per 60 s per model; empty: none."""
    if not value.strip():
        return None
    requests, _, seconds = value.partition("/")
    return int(requests), float(seconds or 60)


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
        self.in_flight = self.max_in_flight = 0  # invocations being answered now, and the most at once
        self.fail_next = 0  # the next this many invocations answer ModelErrorException (one call of many failing)
        # A per-model request quota, as Bedrock's Service Quotas: (requests, per seconds), e.g. (10, 60) for 10 a
        # minute; past it an invocation is ThrottlingException (429). None: no quota. make serve: FAKE_BEDROCK_QUOTA.
        self.quota: tuple[int, float] | None = quota_setting(os.environ.get("FAKE_BEDROCK_QUOTA", ""))
        self._admitted: dict[str, list[float]] = {}
        self.throttled = 0  # invocations refused for the quota

    def admit(self, model: str) -> None:
        """Count an invocation against the model's quota (a sliding window); a 429 past it."""
        if self.quota is None:
            return
        limit, seconds = self.quota
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._admitted.get(model, []) if now - t < seconds]
            if len(recent) >= limit:
                self.throttled += 1
                self._admitted[model] = recent
                raise AwsError(429, "ThrottlingException", "Too many requests, please wait before trying again.")
            self._admitted[model] = [*recent, now]

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
        with self.server._lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            self.answer()
        finally:
            with self.server._lock:
                self.server.in_flight -= 1

    def answer(self) -> None:
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
                self.server.admit(model_id)
                with self.server._lock:
                    failing, self.server.fail_next = self.server.fail_next > 0, max(0, self.server.fail_next - 1)
                if failing:
                    raise AwsError(424, "ModelErrorException", "The model failed to process the request (fake).")
                region = region_of(self.headers.get("authorization", ""))
                handler = {"sd3": invoke_sd3, "inpaint": invoke_inpaint}[family(model_id, region)]
                foundation = offered(model_id, region)  # the model behind a profile id: its page's rules
                self.reply(200, handler(foundation, body), {"x-amzn-bedrock-invocation-latency": "1"})
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
