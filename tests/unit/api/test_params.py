"""Every 400 a client can cause names the field at fault in `param` (OpenAI's), checked at each place the
code raises one: a call to bad_request / ApiError with a 4xx status must pass a param, unless its code
is about the body as a whole (not a field of it) or about a caller that is not a client (the webhook)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "src" / "imagegen"
# Codes about the whole request, where no one field is at fault.
WHOLE_BODY = {
    "invalid_json",  # a field inside it is named by its JSON path when there is one (api/events.parse_json)
    "invalid_body",
    "invalid_multipart",
    "unsupported_media_type",
    "payload_too_large",
    "response_too_large",
    "job_not_found",
    "model_not_found",
}
# Not a client's request: Replicate's webhook and the outputs it names (answered to Replicate).
WEBHOOK = {
    "unknown_job",
    "prediction_mismatch",
    "job_not_ready",
    "invalid_output",
    "invalid_status",
    "invalid_prediction",
}
# A provider's state, not the request's: throttling (a 429 with retry-after); and the key's own limits of
# rate and spend, which no field of the request can mend (a model outside its list names `model`).
PROVIDER = {"throttled", "rate_limit_exceeded", "insufficient_quota"}
WEBHOOK |= {"output_url_not_allowed", "output_not_found", "output_not_an_image", "output_too_large", "output_removed"}


def raises() -> list[tuple[str, int, str, bool]]:
    """(file, line, code, names a param) of every bad_request(...) and ApiError(4xx, ...) call."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            args, keywords = node.args, {k.arg for k in node.keywords}
            if node.func.id == "bad_request" and args and isinstance(args[0], ast.Constant):
                found.append((path.name, node.lineno, args[0].value, len(args) >= 3 or "param" in keywords))
            status = args[0].value if args and isinstance(args[0], ast.Constant) else None
            client_error = len(args) >= 2 and isinstance(status, int) and 400 <= status < 500
            if node.func.id == "ApiError" and client_error and isinstance(args[1], ast.Constant):
                found.append((path.name, node.lineno, args[1].value, len(args) >= 4 or "param" in keywords))
    return found


def test_the_audit_sees_the_raise_sites():
    assert len(raises()) > 40


@pytest.mark.parametrize("site", raises(), ids=lambda s: f"{s[0]}:{s[1]}:{s[2]}")
def test_each_client_error_names_its_field(site):
    name, line, code, named = site
    assert named or code in WHOLE_BODY | WEBHOOK | PROVIDER, f"{name}:{line} raises {code} without a param"
