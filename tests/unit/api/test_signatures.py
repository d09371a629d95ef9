"""Our stdlib Standard Webhooks check agrees with `replicate.webhooks.validate` on signed and tampered inputs."""

from __future__ import annotations

import json
import time

import pytest
import replicate
from replicate.webhook import WebhookSigningSecret

from imagegen.api import signatures
from imagegen.errors import ApiError, ConfigError
from localdev.fake_replicate import new_secret, sign, signed_headers

SECRET = new_secret()
BODY = json.dumps({"id": "p1", "status": "succeeded", "output": ["https://replicate.delivery/x/out-0.png"]})


def library_accepts(headers: dict, body: str, secret: str) -> bool:
    try:
        replicate.webhooks.validate(
            headers=headers, body=body, secret=WebhookSigningSecret(key=secret), tolerance=signatures.TOLERANCE_SECONDS
        )
    except ValueError:  # every WebhookValidationError, and malformed base64/timestamps
        return False
    return True


def ours_accepts(headers: dict, body: str, secret: str) -> bool:
    try:
        signatures.verify_signature(headers, body.encode(), secret)
    except ApiError as err:
        assert err.status == 401
        return False
    return True


def cases(now: int) -> list[tuple[str, dict, str, str]]:
    return list(_cases(now))


def _cases(now: int):
    good = signed_headers(SECRET, BODY, "msg_1", now)
    yield "genuine", good, BODY, SECRET
    yield "header names in any case", {k.title(): v for k, v in good.items()}, BODY, SECRET
    yield "tampered body", good, BODY.replace("succeeded", "failed"), SECRET
    yield "one byte appended", good, BODY + " ", SECRET
    yield "another secret", good, BODY, new_secret()
    yield "id changed", {**good, "webhook-id": "msg_2"}, BODY, SECRET
    yield "timestamp changed", {**good, "webhook-timestamp": str(now + 1)}, BODY, SECRET
    yield "stale", signed_headers(SECRET, BODY, "msg_1", now - 310), BODY, SECRET
    yield "just fresh", signed_headers(SECRET, BODY, "msg_1", now - 250), BODY, SECRET
    yield "from the future", signed_headers(SECRET, BODY, "msg_1", now + 310), BODY, SECRET
    yield "no signature", {k: v for k, v in good.items() if k != "webhook-signature"}, BODY, SECRET
    yield "no id", {k: v for k, v in good.items() if k != "webhook-id"}, BODY, SECRET
    yield "no timestamp", {k: v for k, v in good.items() if k != "webhook-timestamp"}, BODY, SECRET
    rotated = f"v1,{'A' * 43}= {good['webhook-signature']}"
    yield "several signatures, one valid", {**good, "webhook-signature": rotated}, BODY, SECRET
    yield "signature of another body", {**good, "webhook-signature": sign(SECRET, "msg_1", now, "{}")}, BODY, SECRET
    yield "unicode body", signed_headers(SECRET, '{"e":"café"}', "msg_3", now), '{"e":"café"}', SECRET


ACCEPTED = {"genuine", "header names in any case", "just fresh", "several signatures, one valid", "unicode body"}


@pytest.mark.parametrize("name", [case[0] for case in cases(0)])
def test_stdlib_verifier_matches_the_replicate_library(name):
    # GIVEN a webhook (signed, tampered, stale ...) made just now
    _, headers, body, secret = next(case for case in cases(int(time.time())) if case[0] == name)

    # WHEN both verifiers check it
    expected = library_accepts(headers, body, secret)

    # THEN they agree, and the genuine and fresh ones are the only ones accepted
    assert ours_accepts(headers, body, secret) == expected
    assert expected == (name in ACCEPTED)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        ({"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1,AAAA"}, "invalid_signature"),
        ({"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}, "stale_webhook"),
    ],
)
def test_refusals_have_their_own_codes(headers, code):
    with pytest.raises(ApiError) as refused:
        signatures.verify_signature(headers, BODY.encode(), SECRET)
    assert (refused.value.status, refused.value.code) == (401, code)


def test_a_malformed_secret_is_a_configuration_error_that_does_not_show_the_secret():
    # GIVEN a secret without the whsec_ prefix; WHEN a webhook is checked with it
    with pytest.raises(ConfigError) as failed:
        signatures.verify_signature(signed_headers(SECRET, BODY), BODY.encode(), "not-a-whsec-value")

    # THEN it is an operator's problem (503), and the message does not carry the value
    assert "not-a-whsec-value" not in str(failed.value)
