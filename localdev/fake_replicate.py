"""A fake Replicate for tests and `make serve` offline: real wire format, real webhooks, real PNGs.

Speaks the parts of Replicate's HTTP API that imagegen uses:

- `POST /v1/predictions` (`version`, `input`, `webhook`, `webhook_events_filter`) and
  `POST /v1/models/{owner}/{name}/predictions` (no `version`) with `Authorization: Bearer <token>`;
  answers `201` with prediction JSON (`id`, `model`, `version`, `status: "starting"`, `input`,
  `output: null`, `error: null`, `logs`, `urls`, `created_at`, `metrics`...), or `401`/`422` with
  a problem-details body like Replicate's.
- `GET /v1/predictions/{id}`: the prediction as it is now.
- After a short delay it "runs" the model: fetches every http(s) URL in the input the way
  Replicate fetches an input file, renders a deterministic PNG derived from those bytes (or
  from the input JSON for text-to-image), serves it at `GET /delivery/{id}/out-{n}.png` (the
  replicate.delivery stand-in), and POSTs the completed prediction to `webhook` signed with the
  Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64>` =
  HMAC-SHA256 over `id.timestamp.body` with the `whsec_` secret). Non-2xx answers are retried
  with backoff, as Replicate retries terminal webhooks.

Misbehaviour on purpose, chosen by an input field `fake` (a knob of the fake, not Replicate's):
`"fail"` (the prediction fails with an error), `"reject"` (the create is refused with 422),
`"duplicate-webhook"` (the completed webhook is delivered twice, one after the other),
`"concurrent-webhooks"` (delivered twice at the same moment), `"queued-past-deadline"` (the
prediction waits in the queue past its `Cancel-After` deadline and ends `aborted`, as Replicate's
changelog of 2025-10-16 describes), `"data-removed"` (it succeeds, and its output is already
removed when it is read: `output: null`, `data_removed: true`, as after Replicate's one-hour data
retention for API predictions). A `Cancel-After` header (a duration such as `90s`, `5m`, `1h`) sets
the prediction's `deadline`; one that is not a duration is a 400. An input `num_outputs` > 1 gives
a list of outputs; otherwise `output` is a single URL, as cartoonify's is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from localdev import pictures

log = logging.getLogger("imagegen.localdev.fake_replicate")

MODEL_PATH = re.compile(r"^/v1/models/([\w.-]+)/([\w.-]+)/predictions$")
PREDICTION_PATH = re.compile(r"^/v1/predictions/(\w+)$")
# Replicate's problem-details answers (RFC 7807 bodies: title, detail, status), by `"fake"` input.
HTTP_FAILURES = {
    "http-401": (401, "Unauthenticated", "You did not pass a valid authentication token"),
    "http-402": (402, "Insufficient credit", "You have insufficient credit to run this model."),
    "http-429": (429, "Request was throttled.", "Request was throttled. Expected available in 1 second."),
    "http-500": (500, "Internal server error", "Something went wrong."),
}
CANCEL_PATH = re.compile(r"^/v1/predictions/(\w+)/cancel$")
DELIVERY_PATH = re.compile(r"^/delivery/(\w+)/out-(\d+)\.png$")
WEBHOOK_EVENTS = {"start", "output", "logs", "completed"}
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DEFAULT_VERSION = "f109015d60170dfb20460f17da8cb863155823c85ece1115e1e9e4ec7ef51d3b"
# Replicate serves `POST /v1/models/{owner}/{name}/predictions` for its official models only; for a
# community model (cartoonify is one) it answers 404 and the caller must send a `version`.
OFFICIAL_MODELS = frozenset(
    {
        "black-forest-labs/flux-schnell",
        "black-forest-labs/flux-dev",
        "black-forest-labs/flux-kontext-pro",
        "black-forest-labs/flux-fill-pro",
    }
)


FLUX_RATIOS = ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]
# The official models' input schemas as their API pages on replicate.com publish them (the fake's own
# copy, never imagegen's catalog): input name -> allowed values ("enum" list, or (min, max) range, or a
# type). An input a schema does not list, or a value outside it, is Replicate's 422.
SCHEMAS = {
    "black-forest-labs/flux-schnell": {
        "prompt": str, "aspect_ratio": FLUX_RATIOS, "num_outputs": (1, 4), "num_inference_steps": (1, 4),
        "seed": int, "output_format": ["webp", "jpg", "png"], "output_quality": (0, 100),
        "disable_safety_checker": bool, "go_fast": bool, "megapixels": ["1", "0.25"],
    },
    "black-forest-labs/flux-dev": {
        "prompt": str, "aspect_ratio": FLUX_RATIOS, "image": str, "prompt_strength": (0, 1), "num_outputs": (1, 4),
        "num_inference_steps": (1, 50), "guidance": (0, 10), "seed": int, "output_format": ["webp", "jpg", "png"],
        "output_quality": (0, 100), "disable_safety_checker": bool, "go_fast": bool, "megapixels": ["1", "0.25"],
    },
    "black-forest-labs/flux-kontext-pro": {
        "prompt": str, "input_image": str, "aspect_ratio": ["match_input_image", *FLUX_RATIOS], "seed": int,
        "output_format": ["jpg", "png"], "safety_tolerance": (0, 6), "prompt_upsampling": bool,
    },
    # https://replicate.com/black-forest-labs/flux-fill-pro/versions/9609ba7331ed872c99f81c92c69a9ee52a50d8aba99f636173e0674d997efd0c/api
    # (its API schema: steps 1..50, default 50; guidance 2..5, default 3; safety_tolerance 1..6)
    "black-forest-labs/flux-fill-pro": {
        "prompt": str, "image": str, "mask": str, "steps": (1, 50), "guidance": (2, 5), "seed": int,
        "outpaint": str, "output_format": ["jpg", "png"], "safety_tolerance": (1, 6), "prompt_upsampling": bool,
    },
}  # fmt: skip
REQUIRED = {"black-forest-labs/flux-schnell": ["prompt"], "black-forest-labs/flux-dev": ["prompt"],
            "black-forest-labs/flux-kontext-pro": ["prompt"], "black-forest-labs/flux-fill-pro": ["image"]}  # fmt: skip


def invalid_inputs(model: str, inputs: dict) -> list[tuple[str, str]]:
    """(field, description) for each input Replicate's schema of `model` refuses ("fake" is the fake's knob)."""
    schema = SCHEMAS.get(model)
    if schema is None:
        return []
    found = [(f"input.{name}", "is required") for name in REQUIRED.get(model, []) if name not in inputs]
    for name, value in inputs.items():
        allowed = schema.get(name)
        if name == "fake":
            continue
        if allowed is None:
            found.append(("input", f"Additional property {name} is not allowed"))
        elif isinstance(allowed, list) and value not in allowed:
            found.append((f"input.{name}", f"{name} must be one of the following: {', '.join(allowed)}"))
        elif isinstance(allowed, tuple):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                found.append((f"input.{name}", "Invalid type. Expected: number"))
            elif not allowed[0] <= value <= allowed[1]:
                found.append((f"input.{name}", f"Must be between {allowed[0]} and {allowed[1]}"))
        elif isinstance(allowed, type) and (
            not isinstance(value, allowed) or isinstance(value, bool) != (allowed is bool)
        ):
            found.append((f"input.{name}", f"Invalid type. Expected: {allowed.__name__}"))
    return found


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, webhook_id: str, timestamp: int | str, body: str | bytes) -> str:
    """The `webhook-signature` header value for a body (Standard Webhooks, v1 = HMAC-SHA256 over the raw bytes)."""
    raw = body if isinstance(body, bytes) else body.encode()
    key = base64.b64decode(secret.split("_", 1)[1])
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + raw, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, body: str | bytes, webhook_id: str | None = None, timestamp: int | None = None) -> dict:
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, webhook_id, timestamp, body),
    }


def png(width: int, height: int, pixel) -> bytes:
    """A real RGB PNG; `pixel(x, y)` returns (r, g, b)."""
    return pictures.png(width, height, pixel)


def render(source: bytes, n: int = 0, size: int = 64) -> bytes:
    """A deterministic 'cartoon' of `source`: flat colour bands picked from its hash."""
    digest = hashlib.sha256(source + n.to_bytes(2, "big")).digest()
    palette = [tuple(digest[i : i + 3]) for i in range(0, 24, 3)]
    return png(size, size, lambda x, y: palette[((x // 8) + (y // 8) * 3) % len(palette)])


class FakeReplicate(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default 5 resets connections under hundreds of concurrent submits

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        secret: str | None = None,
        delay: float = 0.05,
        deliver: bool = True,
    ):
        super().__init__((host, port), FakeHandler)
        self.token = token or f"r8_fake{secrets.token_hex(16)}"
        self.secret = secret or new_secret()
        self.delay = delay
        self.deliver = deliver
        self.lock = threading.Lock()
        self.predictions: dict[str, dict] = {}
        self.requests: list[dict] = []  # create request bodies, as received
        self.cancel_afters: list[str | None] = []  # each create's Cancel-After header
        self.outputs: dict[str, bytes] = {}  # output URL -> bytes served there
        self.output_types: dict[str, str] = {}  # output URL -> Content-Type, if not image/png
        self.deliveries: list[dict] = []  # {"prediction_id", "status", "attempt"}
        self.input_fetches: list[str] = []  # URLs fetched as inputs
        self.file_authorizations: list[str | None] = []  # Authorization header of each output download
        self.create_delay = 0.0  # seconds each create takes (to observe concurrent submits)
        # Network knobs (make bench): every API call and file download waits `latency` seconds (a
        # round trip), and files are sent at `bandwidth` bytes/s (None: as fast as loopback goes).
        self.latency = 0.0
        self.bandwidth: float | None = None
        self.in_flight = self.max_in_flight = 0
        self._thread: threading.Thread | None = None
        self.closed = False

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def netloc(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> FakeReplicate:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-replicate", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.closed = True  # no more webhooks or retries from predictions still "running"
        self.shutdown()
        self.server_close()

    # -- the model -----------------------------------------------------------------------------
    def create(self, model: str, version: str, body: dict, cancel_after: int | None = None) -> dict:
        prediction_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(26))
        prediction = {
            "id": prediction_id,
            "model": model,
            "version": version,
            "input": body["input"],
            "logs": "",
            "output": None,
            "data_removed": False,
            "error": None,
            "status": "starting",
            "created_at": now_iso(),
            "started_at": None,
            "completed_at": None,
            "urls": {
                "cancel": f"{self.url}/v1/predictions/{prediction_id}/cancel",
                "get": f"{self.url}/v1/predictions/{prediction_id}",
                "web": f"https://replicate.com/p/{prediction_id}",
            },
            "metrics": {},
        }
        if cancel_after is not None:
            deadline = datetime.now(timezone.utc).timestamp() + cancel_after
            prediction["deadline"] = datetime.fromtimestamp(deadline, timezone.utc).isoformat().replace("+00:00", "Z")
        if body.get("webhook"):
            prediction["webhook"] = body["webhook"]
            prediction["webhook_events_filter"] = body.get("webhook_events_filter") or sorted(WEBHOOK_EVENTS)
        with self.lock:
            self.predictions[prediction_id] = prediction
            self.requests.append(body)
        if self.deliver:  # deliver=False: accept only (unit tests: nothing runs, nothing is fetched)
            threading.Thread(target=self.run, args=(prediction_id,), daemon=True).start()
        return json.loads(json.dumps(prediction))

    def run(self, prediction_id: str) -> None:
        time.sleep(self.delay)
        with self.lock:
            prediction = self.predictions[prediction_id]
            behaviour = prediction["input"].get("fake")
            aborted = behaviour == "queued-past-deadline"  # never started: aborted, not billed
            if aborted:
                prediction.update(status="aborted", completed_at=now_iso())
            else:
                prediction.update(status="processing", started_at=now_iso())
            payload = json.dumps(prediction)
        if aborted:
            self.deliver_completed(prediction, payload, behaviour)
            return
        started = time.monotonic()
        inputs = prediction["input"]
        if behaviour == "hang":  # the model never finishes (until it is canceled)
            return
        try:
            if behaviour == "fail":
                raise RuntimeError("CUDA out of memory (fake failure)")
            source = self.fetch_inputs(inputs)
            count = int(inputs.get("num_outputs") or 1)
            urls = []
            for n in range(count):
                url = f"{self.url}/delivery/{prediction_id}/out-{n}.png"
                with self.lock:
                    self.outputs[url] = render(source, n)
                urls.append(url)
            result = {"status": "succeeded", "output": urls if "num_outputs" in inputs else urls[0]}
            logs = f"fetched {len(source)} input bytes\nrendered {count} image(s)\n"
        except Exception as exc:
            result = {"status": "failed", "error": str(exc)}
            logs = f"Traceback (most recent call last):\n{type(exc).__name__}: {exc}\n"
        if self.closed or prediction["status"] == "canceled":
            return
        with self.lock:
            prediction.update(
                result, logs=logs, completed_at=now_iso(), metrics={"predict_time": time.monotonic() - started}
            )
            payload = json.dumps(prediction)
            if behaviour == "data-removed":  # read later, it is gone
                prediction.update(output=None, data_removed=True)
        self.deliver_completed(prediction, payload, behaviour)

    def deliver_completed(self, prediction: dict, payload: str, behaviour: object) -> None:
        lost = behaviour in ("no-webhook", "data-removed")  # the webhook never arrives (throttled, gave up)
        if (
            self.deliver
            and not lost
            and prediction.get("webhook")
            and "completed" in prediction["webhook_events_filter"]
        ):
            webhook_id = f"msg_{uuid.uuid4().hex}"
            copies = 2 if behaviour in ("duplicate-webhook", "concurrent-webhooks") else 1
            if behaviour == "concurrent-webhooks":
                threads = [
                    threading.Thread(target=self.send_webhook, args=(prediction, payload, webhook_id))
                    for _ in range(copies)
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            else:
                for _ in range(copies):
                    self.send_webhook(prediction, payload, webhook_id)

    def fetch_inputs(self, inputs: dict) -> bytes:
        """Download every URL input like Replicate does; the bytes seed the output."""
        source = b""
        for value in inputs.values():
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                with self.lock:
                    self.input_fetches.append(value)
                try:
                    with urllib.request.urlopen(value, timeout=10) as response:
                        source += response.read()
                except (urllib.error.URLError, OSError) as exc:
                    raise RuntimeError(f"could not download input file {urlsplit(value).path}: {exc}") from None
        return source or json.dumps(inputs, sort_keys=True).encode()

    def send_webhook(self, prediction: dict, payload: str, webhook_id: str, attempts: int = 5) -> None:
        for attempt in range(1, attempts + 1):
            if self.closed:
                return
            headers = signed_headers(self.secret, payload, webhook_id)
            request = urllib.request.Request(prediction["webhook"], data=payload.encode(), headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (urllib.error.URLError, OSError):
                status = 0
            with self.lock:
                self.deliveries.append({"prediction_id": prediction["id"], "status": status, "attempt": attempt})
            if 200 <= status < 300 or (400 <= status < 500 and status not in (409, 429)):
                return
            time.sleep(0.1 * 2 ** (attempt - 1))

    def deliveries_for(self, prediction_id: str) -> list[dict]:
        with self.lock:
            return [d for d in self.deliveries if d["prediction_id"] == prediction_id]


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeReplicate
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("fake replicate %s", fmt % args)

    def reply(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        time.sleep(self.server.latency)
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        step = max(1, len(body) if not self.server.bandwidth else int(self.server.bandwidth / 20))
        for start in range(0, len(body), step):  # paced in 50 ms slices when a bandwidth is set
            self.wfile.write(body[start : start + step])
            if self.server.bandwidth:
                time.sleep(min(step, len(body) - start) / self.server.bandwidth)

    def problem(self, status: int, title: str, detail: str) -> None:
        self.reply(status, {"title": title, "detail": detail, "status": status}, "application/problem+json")

    def authorized(self) -> bool:
        expected = f"Bearer {self.server.token}"
        if hmac.compare_digest(self.headers.get("authorization", ""), expected):
            return True
        self.problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        return False

    def cancel(self, prediction_id: str) -> None:
        """Replicate's cancel: a prediction not yet finished becomes `canceled`; the answer is the prediction."""
        with self.server.lock:
            prediction = self.server.predictions.get(prediction_id)
            if prediction is not None and prediction["status"] in ("starting", "processing"):
                prediction.update(status="canceled", completed_at=now_iso())
            snapshot = json.loads(json.dumps(prediction)) if prediction else None
        if snapshot is None:
            self.problem(404, "Not found", "The requested resource could not be found.")
        else:
            self.reply(200, snapshot)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        found = DELIVERY_PATH.match(path)
        if found:
            self.server.file_authorizations.append(self.headers.get("authorization"))
            url = f"{self.server.url}{path}"
            data = self.server.outputs.get(url)
            if data is None:
                self.problem(404, "Not found", "no such file")
            else:
                self.reply(200, data, self.server.output_types.get(url, "image/png"))
            return
        found = PREDICTION_PATH.match(path)
        if found and self.authorized():
            with self.server.lock:
                prediction = self.server.predictions.get(found.group(1))
            if prediction is None:
                self.problem(404, "Not found", "The requested resource could not be found.")
            else:
                self.reply(200, prediction)
            return
        if not found:
            self.problem(404, "Not found", "The requested resource could not be found.")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body_bytes = self.rfile.read(int(self.headers.get("content-length") or 0))
        cancel = CANCEL_PATH.match(path)
        if cancel:
            if self.authorized():
                self.cancel(cancel.group(1))
            return
        model_route = MODEL_PATH.match(path)
        if path != "/v1/predictions" and not model_route:
            self.problem(404, "Not found", "The requested resource could not be found.")
            return
        if not self.authorized():
            return
        if model_route and f"{model_route.group(1)}/{model_route.group(2)}" not in OFFICIAL_MODELS:
            self.problem(404, "Not found", "The requested resource could not be found.")
            return
        try:
            body = json.loads(body_bytes)
        except ValueError:
            self.problem(400, "Invalid JSON", "The request body is not valid JSON")
            return
        errors = validate_create(body, needs_version=not model_route)
        if errors:
            self.reply(422, {"title": "Input validation failed", "detail": "; ".join(errors), "status": 422})
            return
        status = HTTP_FAILURES.get(str(body["input"].get("fake")))
        if status:  # `"fake": "http-429"` ...: Replicate's own error answers
            self.reply(status[0], {"title": status[1], "detail": status[2], "status": status[0]})
            return
        if body["input"].get("fake") == "reject":
            self.reply(422, {"title": "Input validation failed", "detail": "image: fake rejection", "status": 422})
            return
        cancel_after = self.headers.get("cancel-after")
        duration = DURATION.match(cancel_after or "")
        if cancel_after is not None and (not duration or not any(duration.groups())):
            self.problem(400, "Invalid Cancel-After", f"{cancel_after!r} is not a duration such as 90s, 5m or 1h")
            return
        seconds = None
        if duration:
            hours, minutes, secs = (int(part or 0) for part in duration.groups())
            seconds = hours * 3600 + minutes * 60 + secs
        with self.server.lock:
            self.server.cancel_afters.append(cancel_after)
        if model_route:
            model, version = f"{model_route.group(1)}/{model_route.group(2)}", DEFAULT_VERSION
            refused = invalid_inputs(model, body["input"])
            if refused:
                detail = "".join(f"- {field}: {description}\n" for field, description in refused)
                fields = [{"field": field, "description": description} for field, description in refused]
                self.reply(422, {"title": "Input validation failed", "detail": detail, "status": 422,
                                 "invalid_fields": fields})  # fmt: skip
                return
        else:
            model, version = "catacolabs/cartoonify", body["version"].split(":")[-1]
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            time.sleep(self.server.create_delay)
            self.reply(201, self.server.create(model, version, body, seconds))
        finally:
            with self.server.lock:
                self.server.in_flight -= 1


def validate_create(body: Any, *, needs_version: bool) -> list[str]:
    """The checks Replicate makes on a create request, as error messages."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    errors = []
    if needs_version and not isinstance(body.get("version"), str):
        errors.append("version is required")
    if not isinstance(body.get("input"), dict):
        errors.append("input is required and must be an object")
    webhook = body.get("webhook")
    if webhook is not None and (not isinstance(webhook, str) or urlsplit(webhook).scheme not in ("http", "https")):
        errors.append("webhook must be an absolute URL")
    events = body.get("webhook_events_filter")
    if events is not None and (not isinstance(events, list) or not set(events) <= WEBHOOK_EVENTS):
        errors.append(f"webhook_events_filter must be a list of {sorted(WEBHOOK_EVENTS)}")
    return errors


def start_offline_replicate(host: str, port: int) -> list[str]:
    """`make serve` without a Replicate token: start the fake and point the handlers at it.

    Creates SSM SecureString parameters in LocalStack for a random token and webhook secret,
    sets the env vars Terraform would set (plus the local-only ones), and returns banner lines.
    With REPLICATE_API_TOKEN_PARAM already set, real Replicate is used and nothing starts.
    """
    if os.environ.get("REPLICATE_API_TOKEN_PARAM"):
        public = os.environ.get("PUBLIC_BASE_URL") or "(not set: Replicate cannot reach a local server)"
        return [f"replicate   REAL api.replicate.com; webhooks go to {public}"]
    import boto3

    # How long each prediction takes before it runs (IMAGEGEN_FAKE_REPLICATE_DELAY, default 2 s): long
    # enough to see a job queued, then running, in the playground and the CLI.
    delay = float(os.environ.get("IMAGEGEN_FAKE_REPLICATE_DELAY", "2"))
    fake = FakeReplicate("127.0.0.1", 0, delay=delay).start()
    ssm = boto3.client("ssm")
    prefix = f"/imagegen/local/{uuid.uuid4().hex[:8]}"
    for name, value in (("replicate-api-token", fake.token), ("replicate-webhook-secret", fake.secret)):
        ssm.put_parameter(Name=f"{prefix}/{name}", Value=value, Type="SecureString", Overwrite=True)
    os.environ.update(
        {
            "REPLICATE_API_TOKEN_PARAM": f"{prefix}/replicate-api-token",
            "REPLICATE_WEBHOOK_SECRET_PARAM": f"{prefix}/replicate-webhook-secret",
            "REPLICATE_BASE_URL": fake.url,
            "REPLICATE_OUTPUT_HOSTS": fake.netloc,
            "REPLICATE_ALLOW_HTTP_LOOPBACK": "1",
            "IMAGEGEN_REPLICATE_OFFLINE": "1",
            # the fake's own switch (`"input": {"fake": "fail"}` ...) is an input clients may set here
            "REPLICATE_EDIT_INPUTS": json.dumps({"catacolabs/cartoonify": ["fake"]}),
        }
    )
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://{host}:{port}")
    return [
        f"replicate   OFFLINE: fake Replicate at {fake.url} (no token configured; outputs are generated PNGs)",
        f"            webhooks to {os.environ['PUBLIC_BASE_URL']}/v1/webhooks/replicate, signed with a random secret",
    ]
