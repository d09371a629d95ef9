"""The shared event parsing, responses and error handling every handler builds on."""

from __future__ import annotations

import base64
import json

from imagegen.api.events import api_handler, parse_event
from imagegen.errors import ApiError, ConfigError
from tests.conftest import FakeContext, load_event


def call(func, event):
    return api_handler(func)(event, FakeContext())


def test_parse_event_reads_payload_2_fields():
    # GIVEN a real-shaped HTTP API event
    event = load_event("get_job")
    # WHEN it is parsed
    request = parse_event(event)
    # THEN every part a handler needs is there, headers lowercased
    assert request.method == "GET"
    assert request.path == "/v1/jobs/0123456789abcdef0123456789abcdef"
    assert request.route_key == "GET /v1/jobs/{id}"
    assert request.headers["user-agent"] == "curl/8.5.0"
    assert "User-Agent" not in request.headers
    assert request.query == {"verbose": "1"}
    assert request.path_params == {"id": "0123456789abcdef0123456789abcdef"}
    assert request.base_url() == "https://abc123.execute-api.us-east-1.amazonaws.com"
    assert request.body == b""


def test_base_url_includes_a_named_stage():
    event = load_event("get_job")
    event["requestContext"]["stage"] = "prod"
    assert parse_event(event).base_url() == "https://abc123.execute-api.us-east-1.amazonaws.com/prod"


def test_base64_body_is_decoded_and_json_parsed():
    payload = {"prompt": "a lighthouse", "n": 2}
    event = load_event(
        "get_job",
        body=base64.b64encode(json.dumps(payload).encode()).decode(),
        isBase64Encoded=True,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    request = parse_event(event)
    assert request.content_type == "application/json"
    assert request.json() == payload


def test_invalid_base64_body_is_a_400():
    event = load_event("get_job", body="not base64!!", isBase64Encoded=True)
    response = call(lambda r: {"statusCode": 200}, event)
    assert response["statusCode"] == 400
    assert json.loads(response["body"])["error"]["code"] == "invalid_body"


def test_json_errors_name_the_problem():
    def handler(request):
        return request.json()

    cases = {
        "": (400, "invalid_json"),
        "{not json": (400, "invalid_json"),
        "[1, 2]": (400, "invalid_json"),
    }
    for body, (status, code) in cases.items():
        response = call(handler, load_event("get_job", body=body, headers={"content-type": "application/json"}))
        assert response["statusCode"] == status, body
        assert json.loads(response["body"])["error"]["code"] == code
    wrong_type = call(handler, load_event("get_job", body="a=1", headers={"content-type": "text/plain"}))
    assert wrong_type["statusCode"] == 415


def test_api_error_becomes_json_error_without_cors_headers():
    def handler(request):
        raise ApiError(409, "conflict", "already there")

    response = call(handler, load_event("get_job"))
    assert response["statusCode"] == 409
    assert response["headers"]["content-type"] == "application/json"
    # CORS is API Gateway's (cors_allowed_origins): a handler's own header would reach browsers when it is off
    assert not [name for name in response["headers"] if name.startswith("access-control-")]
    # our code and message, with OpenAI's type and param beside them (the openai SDKs read those)
    error = {"code": "conflict", "message": "already there", "type": "invalid_request_error", "param": None}
    assert json.loads(response["body"]) == {"error": error}


def test_unexpected_exception_is_a_500_without_details(caplog):
    def handler(request):
        raise KeyError("secret-internal-detail")

    response = call(handler, load_event("get_job"))
    assert response["statusCode"] == 500
    assert "secret-internal-detail" not in response["body"]
    assert "Traceback" not in response["body"]
    assert json.loads(response["body"])["error"]["code"] == "internal_error"
    assert "secret-internal-detail" in caplog.text  # the operator still sees it in the log


def test_configuration_error_is_a_503():
    def handler(request):
        raise ConfigError("environment variable BUCKET_NAME is not set")

    response = call(handler, load_event("get_job"))
    assert response["statusCode"] == 503
    assert json.loads(response["body"])["error"]["code"] == "not_configured"


def test_the_webhook_base_is_https_whatever_a_client_says_its_scheme_was():
    # API Gateway serves https only; a client's X-Forwarded-Proto: http must not downgrade our webhook URL
    event = load_event("get_job")
    event["headers"] = {**event["headers"], "x-forwarded-proto": "http"}
    assert parse_event(event).base_url() == "https://abc123.execute-api.us-east-1.amazonaws.com"
