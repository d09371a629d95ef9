"""A small local stand-in for API Gateway's HTTP API, like `sam local start-api`.

LocalStack's free edition has no apigatewayv2 and runs Lambda code only inside
Docker, so this server turns real HTTP requests into payload-2.0 events, calls the
handlers in-process and writes their responses back the way API Gateway does.
Routes come from functions/routes.json, the same table Terraform reads.

With `auth="api_key"` (make serve AUTH=api_key) the routes marked `"auth": true` go through the
same Lambda authorizer as in AWS (functions/authorizer), called in-process, and answer what
API Gateway answers: 401 `{"message":"Unauthorized"}` without an Authorization header, 403
`{"message":"Forbidden"}` when the authorizer says no, and otherwise the route's function with
the key's id in requestContext.authorizer.lambda. Without it the routes are open (loopback only).

What API Gateway and Lambda refuse, it refuses the same way: a body over API Gateway's 10 MB;
an event over Lambda's 6 MB invocation payload (the JSON event, body base64-encoded and headers
included, which is what reaches Lambda: about 4.5 MB of binary upload) with 413
`{"message":"Request Too Long"}`; an answer over Lambda's 6 MB response payload with 502
`{"message":"Internal Server Error"}`; a route or method it has not got with 404
`{"message":"Not Found"}`. CORS is API Gateway's too (`cors_origins`, Terraform's
`api.cors_allowed_origins`): preflights answered and `access-control-allow-origin` added for an allowed
`Origin`, nothing at all when it is off; the handlers send no CORS headers of their own.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
ROUTES_FILE = FUNCTIONS_DIR / "routes.json"
SHARED_LAYER = ROOT / "src"

TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")
DRAIN_LIMIT = 64 * 1024 * 1024  # an oversized body is read and dropped up to this, so the client sees the 413
# API Gateway's HTTP API payload quota, and Lambda's synchronous invocation payload quotas: the request
# (6 MiB) and the response (the 6,291,556 bytes Lambda's own error message names).
MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024
MAX_EVENT_BYTES = 6 * 1024 * 1024
MAX_ANSWER_BYTES = 6_291_556

# The shared package is a layer (/opt/python on Lambda): here it is the repository's src/ (src/imagegen).
if str(SHARED_LAYER) not in sys.path:
    sys.path.insert(0, str(SHARED_LAYER))

log = logging.getLogger("imagegen.localdev")


AUTHORIZER = "authorizer"
# What API Gateway itself answers when a Lambda authorizer refuses (or was never asked).
UNAUTHORIZED = (401, b'{"message":"Unauthorized"}')
FORBIDDEN = (403, b'{"message":"Forbidden"}')
NOT_FOUND = (404, b'{"message":"Not Found"}')
EVENT_TOO_LARGE = (413, b'{"message":"Request Too Long"}')
INTEGRATION_FAILED = (502, b'{"message":"Internal Server Error"}')
BAD_REQUEST = (400, b'{"message":"Bad Request"}')
BODY_TOO_LARGE = (413, f"HTTP content length exceeded {MAX_REQUEST_BODY_BYTES} bytes.".encode())


@dataclass(frozen=True)
class Cors:
    """API Gateway's CORS configuration of the deployment (terraform/modules/http_api, same defaults)."""

    origins: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    max_age: int = 0
    exposed: tuple[str, ...] = ()

    @classmethod
    def like_terraform(cls, origins: list[str] | tuple[str, ...]) -> Cors:
        """The http_api module's methods, headers and max age, read from its variables.tf."""
        import hcl2

        text = (ROOT / "terraform" / "modules" / "http_api" / "variables.tf").read_text()
        variables = {k.strip('"'): v for block in hcl2.loads(text)["variable"] for k, v in block.items()}

        def default(name: str):
            value = variables[name]["default"]
            return tuple(v.strip('"') for v in value) if isinstance(value, list) else value

        methods, headers = default("cors_allowed_methods"), default("cors_allowed_headers")
        exposed = default("cors_exposed_headers")
        return cls(tuple(origins), methods, headers, int(default("cors_max_age_seconds")), exposed)

    def allowed(self, origin: str | None) -> str | None:
        """The access-control-allow-origin for a request's Origin, or None (no CORS headers)."""
        if not origin or not self.origins:
            return None
        return "*" if "*" in self.origins else origin if origin in self.origins else None


@dataclass(frozen=True)
class Route:
    key: str  # "POST /v1/jobs/{id}"
    method: str
    pattern: re.Pattern
    function: str
    auth: bool = True


def load_routes(routes_file: Path = ROUTES_FILE) -> list[Route]:
    table = json.loads(routes_file.read_text())
    routes = []
    for key, spec in table.items():
        method, path = key.split(" ", 1)
        regex = re.sub(r"\\{(\w+)\\\+\\}", r"(?P<\1>.+)", re.escape(path))
        regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", regex)
        routes.append(Route(key, method, re.compile(f"^{regex}$"), spec["function"], bool(spec.get("auth", True))))
    return routes


def load_handler(name: str, functions_dir: Path = FUNCTIONS_DIR) -> Callable[[dict, Any], Any]:
    """Import functions/<name>/handler.py under a unique module name, as Lambda would."""
    if str(SHARED_LAYER) not in sys.path:
        sys.path.insert(0, str(SHARED_LAYER))
    spec = importlib.util.spec_from_file_location(f"imagegen_fn_{name}", functions_dir / name / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


def joined(headers) -> dict[str, str]:
    """The request's headers as payload 2.0 has them: a header sent twice is one, its values joined
    with commas (AWS, "Working with Lambda proxy integrations for HTTP APIs")."""
    names = dict.fromkeys(name.lower() for name in headers)
    return {name: ",".join(headers.get_all(name)) for name in names}


def is_text(content_type: str) -> bool:
    return content_type.lower().startswith(TEXT_TYPES)


def build_event(
    route: Route,
    match: re.Match,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    source_ip: str,
    host: str,
) -> dict:
    """An API Gateway HTTP API payload-2.0 event for one request."""
    parts = urlsplit(target)
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        # API Gateway joins repeated query parameters with commas.
        query[name] = f"{query[name]},{value}" if name in query else value
    lowered = {k.lower(): v for k, v in headers.items()}
    cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route.key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if match.groupdict():
        event["pathParameters"] = match.groupdict()
    if body:
        if is_text(lowered.get("content-type", "")):
            event["body"] = body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def to_http(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Map a handler's return value to status, headers and body as API Gateway does (format 2.0)."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
        headers.setdefault("content-type", "application/json")
        cookies = result.get("cookies") or []
        if cookies:
            headers["set-cookie"] = ", ".join(cookies)
        return int(result["statusCode"]), headers, body
    # Anything else (a dict without statusCode, a string, a number) is the body itself.
    return 200, {"content-type": "application/json"}, json.dumps(result).encode()


class LocalApi(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        routes: list[Route] | None = None,
        functions_dir: Path = FUNCTIONS_DIR,
        auth: str | None = None,
        cors: Cors | None = None,
    ):
        if auth not in (None, "api_key"):
            raise ValueError("auth must be None (open) or 'api_key'")
        super().__init__(address, RequestHandler)
        self.routes = routes if routes is not None else load_routes()
        self.functions_dir = functions_dir
        self.auth = auth
        self.cors = cors if cors is not None else Cors()
        self._handlers: dict[str, Callable] = {}
        self._lock = threading.Lock()

    def handler_for(self, function: str) -> Callable:
        """The function's handler, imported on first use like a Lambda cold start."""
        with self._lock:
            if function not in self._handlers:
                self._handlers[function] = load_handler(function, self.functions_dir)
            return self._handlers[function]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def match(self, method: str, path: str) -> tuple[Route | None, re.Match | None]:
        """The route for method+path (API Gateway answers 404 for a known path under another method)."""
        for route in self.routes:
            found = route.pattern.match(path)
            if found and route.method in (method, "ANY"):
                return route, found
        return None, None


class ChunkError(ValueError):
    """A request body whose framing is broken or ambiguous (a 400, and the connection closes)."""


class RequestHandler(BaseHTTPRequestHandler):
    server: LocalApi
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), fmt % args)

    def send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        allow = self.server.cors.allowed(self.headers.get("origin"))
        if allow:
            headers = {**headers, "access-control-allow-origin": allow}
            if self.server.cors.exposed:
                headers["access-control-expose-headers"] = ",".join(self.server.cors.exposed)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self) -> bytes | None:
        """The request body, whole (Content-Length or chunked), or None if it is over the limit.

        API Gateway buffers a request before it invokes Lambda, so the function always gets one whole
        body, however it was sent: `Transfer-Encoding: chunked` (what the openai Node SDK sends for a
        streamed upload) is decoded here the same way. An oversized body is read and dropped (up to
        DRAIN_LIMIT) before the 413 is written: clients that send the whole body before reading
        (requests, urllib) would otherwise get a broken pipe instead of the answer. Past DRAIN_LIMIT
        the connection is simply closed.
        """
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        declared = self.headers.get_all("content-length") or []
        if chunked and declared:
            # Both framings (RFC 9112 6.1: a smuggling vector): refused, and the connection closed, so
            # whatever follows is never read as a second request.
            raise ChunkError("Content-Length and Transfer-Encoding: chunked together")
        if chunked:
            return self.read_chunked()
        if len(set(declared)) > 1 or not all(value.strip().isdigit() for value in declared):
            raise ChunkError(f"Content-Length {declared[:2]!r} is not one whole number of bytes")  # -1, 1e3, 5, 6
        length = int(declared[0]) if declared else 0
        if length > MAX_REQUEST_BODY_BYTES:
            self.close_connection = True
            left = min(length, DRAIN_LIMIT)
            while left > 0 and (chunk := self.rfile.read(min(left, 1024 * 1024))):
                left -= len(chunk)
            return None
        return self.rfile.read(length) if length else b""

    def read_chunked(self) -> bytes | None:
        """A chunked body (RFC 9112, section 7.1): size lines in hex (extensions ignored), the chunks, a
        last chunk of size 0 and optional trailer lines. Malformed framing raises ChunkError (a 400)."""
        body, read, over = [], 0, False
        while True:
            line = self.rfile.readline(1024)
            digits = line.split(b";", 1)[0].strip()
            if not digits or digits.strip(b"0123456789abcdefABCDEF"):  # hex digits only: no sign, no 0x, no _
                raise ChunkError(f"bad chunk size line {line[:40]!r}")
            size = int(digits, 16)
            if size == 0:
                break
            read += size
            if read > DRAIN_LIMIT:  # past what is worth draining: answer the 413 and close
                self.close_connection = True
                return None
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.read(2) != b"\r\n":
                raise ChunkError("a chunk is shorter than its size line")
            over = over or read > MAX_REQUEST_BODY_BYTES
            if not over:
                body.append(chunk)
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass  # trailer fields: API Gateway hands none to the function
        if over:
            return None
        return b"".join(body)

    def handle_expect_100(self) -> bool:
        """`Expect: 100-continue`: refuse a declared body over the limit before it is sent (what the
        client waits to learn), else tell the client to go on."""
        length = self.headers.get("content-length") or ""
        if length.isdigit() and int(length) > MAX_REQUEST_BODY_BYTES:
            self.close_connection = True
            self.refuse(BODY_TOO_LARGE, "text/plain; charset=utf-8")
            return False
        return super().handle_expect_100()

    def refuse(self, answer: tuple[int, bytes], content_type: str = "application/json") -> None:
        self.send(answer[0], {"content-type": content_type}, answer[1])

    def preflight(self) -> bool:
        """API Gateway answers a CORS preflight itself when CORS is on (and routes it like any request when off)."""
        cors = self.server.cors
        if self.command != "OPTIONS" or not cors.origins or not self.headers.get("access-control-request-method"):
            return False
        allow = cors.allowed(self.headers.get("origin"))
        headers = {}
        if allow:
            headers = {
                "access-control-allow-methods": ",".join(cors.methods),
                "access-control-allow-headers": ",".join(cors.headers),
                "access-control-max-age": str(cors.max_age),
            }
        self.send(204, headers, b"")
        return True

    def dispatch(self) -> None:
        path = urlsplit(self.path).path
        if self.preflight():
            return
        route, match = self.server.match(self.command, path)
        if route is None:
            try:
                self.read_body()  # drained, so the connection stays usable
            except ChunkError:
                self.close_connection = True
                self.refuse(BAD_REQUEST)
                return
            self.refuse(NOT_FOUND)
            return
        try:
            body = self.read_body()
        except ChunkError as err:
            log.info("malformed body framing: %s", err)
            self.close_connection = True
            self.refuse(BAD_REQUEST)
            return
        if body is None:
            self.refuse(BODY_TOO_LARGE, "text/plain; charset=utf-8")
            return
        host = self.headers.get("host", "localhost")
        event = build_event(
            route, match, self.command, self.path, joined(self.headers), body, self.client_address[0], host
        )
        # API Gateway writes the scheme it served itself (https), whatever a client sent: so does this (http)
        event["headers"]["x-forwarded-proto"] = "http"
        if len(json.dumps(event, separators=(",", ":"))) > MAX_EVENT_BYTES:
            self.refuse(EVENT_TOO_LARGE)  # Lambda refuses the invocation; API Gateway answers this
            return
        if self.server.auth == "api_key" and route.auth:
            refused = self.authorize(event)
            if refused:
                self.refuse(refused)
                return
        try:
            result = self.server.handler_for(route.function)(event, LocalContext(route.function))
            if len(json.dumps(result, separators=(",", ":"))) > MAX_ANSWER_BYTES:
                log.error("handler %s answered more than Lambda's 6 MB response payload", route.function)
                self.refuse(INTEGRATION_FAILED)
                return
            status, headers, payload = to_http(result)
            if self.server.cors.origins:  # API Gateway ignores an integration's CORS headers when CORS is on
                headers = {k: v for k, v in headers.items() if not k.startswith("access-control-")}
        except Exception:
            log.exception("handler %s raised", route.function)
            status, headers, payload = 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        self.send(status, headers, payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals: a method it has no handler for is, on API Gateway, a route it has not got."""
        if code == 501:
            self.close_connection = True
            self.refuse(NOT_FOUND)
            return
        super().send_error(code, message, explain)

    def authorize(self, event: dict) -> tuple[int, bytes] | None:
        """Run the Lambda authorizer as API Gateway does; None if the request may go on."""
        header = event["headers"].get("authorization")
        if not header:  # the identity source is missing: API Gateway answers without asking
            return UNAUTHORIZED
        context = event["requestContext"]
        authorizer_event = {
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:us-east-1:{context['accountId']}:local/$default/{event['routeKey']}",
            "identitySource": [header],
            "routeKey": event["routeKey"],
            "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"],
            "headers": event["headers"],
            "queryStringParameters": event.get("queryStringParameters"),
            "pathParameters": event.get("pathParameters"),
            "requestContext": context,
        }
        try:
            answer = self.server.handler_for(AUTHORIZER)(authorizer_event, LocalContext(AUTHORIZER))
        except Exception:
            log.exception("authorizer raised")
            return 500, b'{"message":"Internal Server Error"}'
        if not isinstance(answer, dict) or answer.get("isAuthorized") is not True:
            return FORBIDDEN
        context["authorizer"] = {"lambda": answer.get("context") or {}}
        return None

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = dispatch


class LocalContext:
    """The few attributes of a Lambda context object that code tends to read."""

    def __init__(self, name: str):
        self.function_name = name
        self.aws_request_id = uuid.uuid4().hex
        self.memory_limit_in_mb = 512
        self._deadline = time.time() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))
