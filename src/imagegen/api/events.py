"""API Gateway HTTP API (payload format 2.0) events in, JSON responses out.

Every error a client can cause is an ApiError (imagegen.errors), which becomes
`{"error": {"code", "message"}}` with a 4xx status. Anything else is logged with
its traceback and answered with a bare 500: no stack trace ever reaches a client.
CORS is API Gateway's alone (Terraform's api.cors_allowed_origins): the handlers send no CORS headers,
so CORS off means off.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imagegen import logs, settings
from imagegen.errors import ApiError, ConfigError, bad_request, clip

log = logging.getLogger("imagegen")

# No size check of the body here: Lambda refuses an invocation whose event (the body base64-encoded,
# headers included) is over its 6 MB payload quota, and API Gateway answers that 413 itself, so a
# handler never sees more than about 4.5 MB of binary body (localdev.server refuses the same way).
WEBHOOK_PATH = "/v1/webhooks/replicate"


class _NotFinite(str):
    """Where the JSON had NaN, Infinity or a number too large for a float (found, then named, below)."""


def _finite_float(text: str) -> float | _NotFinite:
    value = float(text)
    return value if math.isfinite(value) else _NotFinite(text[:40])


def _not_utf8(text: str) -> bool:
    """A lone surrogate (JSON's "\\ud800" parses to one) cannot be encoded as UTF-8: no provider can take it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _first_problem(value: Any, path: str) -> tuple[str, str] | None:
    """(where, what) of the first value JSON allows and we cannot use: a non-finite number, or text
    (a value or a key) that is not valid Unicode."""
    if isinstance(value, _NotFinite):
        return path, f"{value} is not a finite number"
    if isinstance(value, str) and _not_utf8(value):
        return path, "is text that cannot be encoded as UTF-8 (a lone surrogate such as \\ud800)"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = f"{path}.{key}" if path and isinstance(key, str) else f"{path}[{key}]" if path else str(key)
        if isinstance(key, str) and _not_utf8(key):
            return where.encode("utf-8", "replace").decode(), "is a key that cannot be encoded as UTF-8"
        found = _first_problem(item, where)
        if found:
            return found
    return None


def parse_json(data: bytes | str, what: str, field: str = "") -> Any:
    """Strict JSON: NaN, Infinity and numbers that overflow a float (Python's json takes them all), and
    text that is not valid Unicode (a lone surrogate escape), are a 400 naming the field they are in,
    before anything is done with the request; so is nesting deep enough to exhaust the stack."""
    try:
        value = json.loads(data, parse_constant=_NotFinite, parse_float=_finite_float)
        found = _first_problem(value, field)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("invalid_json", f"{what} is not valid JSON: {str(exc)[:200]}") from None
    except RecursionError:
        raise bad_request("invalid_json", f"{what} is nested too deeply") from None
    if found:
        name, problem = found
        where = name.encode("utf-8", "replace").decode() or what
        raise ApiError(400, "invalid_parameter", f"{clip(where)}: {problem}", where if name else None)
    return value


@dataclass
class Request:
    method: str
    path: str
    route_key: str
    headers: dict[str, str]
    query: dict[str, str]
    path_params: dict[str, str]
    body: bytes
    domain: str = ""
    stage: str = "$default"
    request_id: str = ""
    raw_event: dict = field(default_factory=dict, repr=False)
    # time.monotonic() by which Lambda ends this invocation (None off Lambda): long work answers before it.
    deadline: float | None = None
    # The API key id the Lambda authorizer let through (None when auth is not api_key): jobs' owner.
    owner: str | None = None
    # That key's limits (budgets, requests per minute, models, model calls), as the authorizer read them.
    limits: dict = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        """The media type alone, lowercased (parameters such as boundary stripped)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or a 400/415 that says what is wrong."""
        if self.content_type not in ("application/json", ""):
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        if not self.body:
            raise bad_request("invalid_json", "the request body is empty; send a JSON object")
        value = parse_json(self.body, "the body")
        if not isinstance(value, dict):
            raise bad_request("invalid_json", "the body must be a JSON object")
        return value

    def webhook_url(self) -> str:
        """The absolute URL of our Replicate webhook route: PUBLIC_BASE_URL if set, else this request's
        domain and stage."""
        base = settings.public_base_url()
        if not base:
            if not self.domain:
                raise ConfigError("cannot build the webhook URL: no PUBLIC_BASE_URL and no domain in the request")
            base = self.base_url()
        return base + WEBHOOK_PATH

    def base_url(self) -> str:
        """The absolute URL this API was called at (domain and stage), no trailing slash: https, the only
        scheme API Gateway serves (a client's own X-Forwarded-Proto is not to be trusted)."""
        stage = "" if self.stage in ("", "$default") else f"/{self.stage}"
        return f"https://{self.domain}{stage}"


def parse_event(event: dict) -> Request:
    """Build a Request from an API Gateway HTTP API payload-2.0 event."""
    http = event.get("requestContext", {}).get("http", {})
    raw_body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request("invalid_body", "the body is not valid base64") from None
    else:
        body = raw_body.encode("utf-8")
    ctx = event.get("requestContext", {})
    authorized = (ctx.get("authorizer") or {}).get("lambda") or {}
    return Request(
        method=http.get("method", "GET").upper(),
        path=http.get("path") or event.get("rawPath", "/"),
        route_key=event.get("routeKey", ""),
        headers={k.lower(): v for k, v in (event.get("headers") or {}).items()},
        query=dict(event.get("queryStringParameters") or {}),
        path_params=dict(event.get("pathParameters") or {}),
        body=body,
        domain=ctx.get("domainName", ""),
        stage=ctx.get("stage", "$default"),
        request_id=ctx.get("requestId", ""),
        raw_event=event,
        owner=authorized.get("key_id") or None,
        limits=key_limits(authorized.get("limits")),
    )


def key_limits(value: object) -> dict:
    """The authorizer's `limits` (JSON text); {} when there are none (a deployment without keys)."""
    try:
        found = json.loads(value) if isinstance(value, str) and value else {}
    except ValueError:
        found = {}
    return found if isinstance(found, dict) else {}


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", **(headers or {})},
        "body": json.dumps(payload, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def error_type(status: int) -> str:
    """OpenAI's error `type` for a status, so the openai SDKs raise the exception their users catch."""
    types = {401: "authentication_error", 403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}
    return types.get(status, "invalid_request_error" if status < 500 else "api_error")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, param: str | None = None
) -> dict:
    # A message may quote what the client sent (an unknown model name): never a secret it pasted there.
    error = {"code": code, "message": logs.redact(message), "type": error_type(status), "param": param}
    return json_response(status, {"error": error}, headers)


def api_handler(func: Callable[[Request], dict]) -> Callable[[dict, Any], dict]:
    """Turn `func(request) -> response` into a Lambda handler with uniform error handling."""

    @functools.wraps(func)
    def handler(event: dict, context: Any = None) -> dict:
        request_id = getattr(context, "aws_request_id", "") or event.get("requestContext", {}).get("requestId", "")
        started = logs.begin(request_id, event.get("routeKey", ""))
        status, outcome = 500, "internal_error"
        try:
            request = parse_event(event)
            remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
            if callable(remaining_ms):
                request.deadline = time.monotonic() + remaining_ms() / 1000
            response = func(request)
            status = response.get("statusCode", 200)
            outcome = "ok" if status < 400 else error_code_of(response)
            return response
        except ApiError as err:
            status, outcome = err.status, err.code
            log.info("client error %s %s: %s", err.status, err.code, err.message)
            if err.status == 401 and "webhook" in event.get("routeKey", ""):
                logs.metric("WebhookRejected", 1, reason=err.code)
            if err.code == "throttled":
                logs.metric("ProviderThrottled", 1)
            return error_response(err.status, err.code, err.message, err.headers, err.param)
        except ConfigError as err:
            status, outcome = 503, "not_configured"
            log.error("configuration error: %s", err)
            return error_response(503, "not_configured", "the service is not configured for this request")
        except Exception:
            log.exception("unhandled error")
            return error_response(500, "internal_error", "something went wrong on our side")
        finally:
            logs.end(started, status, outcome)

    return handler


def error_code_of(response: dict) -> str:
    """The `error.code` of a JSON error response a handler returned (not raised)."""
    try:
        return str(json.loads(response.get("body") or "{}")["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return f"http_{response.get('statusCode')}"
