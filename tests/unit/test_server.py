"""The local HTTP API server: route table, payload-2.0 events, response mapping."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from localdev.server import ROUTES_FILE, build_event, load_routes, to_http


def route_for(method: str, path: str):
    for route in load_routes():
        found = route.pattern.match(path)
        if found and route.method == method:
            return route, found
    raise AssertionError(f"no route for {method} {path}")


def test_routes_come_from_the_route_table():
    table = json.loads(Path(ROUTES_FILE).read_text())
    assert {r.key: r.function for r in load_routes()} == {k: v["function"] for k, v in table.items()}


def test_path_parameters_match_one_segment():
    route, found = route_for("GET", "/v1/jobs/abc")
    assert route.function == "get_job" and found.groupdict() == {"id": "abc"}
    assert route.pattern.match("/v1/jobs/abc/extra") is None


def test_event_has_every_payload_2_field():
    route, found = route_for("GET", "/v1/jobs/abc")
    event = build_event(
        route,
        found,
        "GET",
        "/v1/jobs/abc?a=1&a=2&b=",
        {"User-Agent": "ua", "Cookie": "x=1; y=2"},
        b"",
        "127.0.0.1",
        "localhost:8080",
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/jobs/{id}"
    assert event["rawPath"] == "/v1/jobs/abc"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}  # repeated values comma-joined
    assert event["pathParameters"] == {"id": "abc"}
    assert event["cookies"] == ["x=1", "y=2"]
    assert event["headers"] == {"user-agent": "ua"}
    ctx = event["requestContext"]
    assert ctx["http"] == {
        "method": "GET",
        "path": "/v1/jobs/abc",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "ua",
    }
    assert ctx["domainName"] == "localhost:8080" and ctx["stage"] == "$default"
    assert ctx["requestId"] and isinstance(ctx["timeEpoch"], int)
    assert event["isBase64Encoded"] is False and "body" not in event


def test_binary_and_multipart_bodies_are_base64():
    route, found = route_for("POST", "/v1/images/edits")
    body = b'--b\r\ncontent-disposition: form-data; name="image"\r\n\r\n\x89PNG\r\n--b--\r\n'
    event = build_event(
        route,
        found,
        "POST",
        "/v1/images/edits",
        {"Content-Type": "multipart/form-data; boundary=b"},
        body,
        "127.0.0.1",
        "localhost",
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body
    text = build_event(
        route,
        found,
        "POST",
        "/v1/images/edits",
        {"Content-Type": "application/json"},
        b'{"a": 1}',
        "127.0.0.1",
        "localhost",
    )
    assert text["isBase64Encoded"] is False and text["body"] == '{"a": 1}'


def test_responses_map_like_api_gateway():
    # A full response object
    status, headers, body = to_http({"statusCode": 201, "headers": {"X-A": "1"}, "body": "{}", "cookies": ["c=1"]})
    assert (status, headers["x-a"], headers["set-cookie"], body) == (201, "1", "c=1", b"{}")
    # Base64 binary body
    status, _, body = to_http(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert body == b"\x00\x01"
    # A plain dict (no statusCode) or a string is the JSON body of a 200
    assert to_http({"hello": "world"}) == (200, {"content-type": "application/json"}, b'{"hello": "world"}')
    assert to_http("hi") == (200, {"content-type": "application/json"}, b'"hi"')
