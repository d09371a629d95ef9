"""Standard Webhooks signatures: Replicate's to us (checked before anything else is read), ours to callers.

HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64 part of the `whsec_`
secret, compared in constant time with each `v1,<base64>` in `webhook-signature`; a timestamp more
than TOLERANCE_SECONDS away from now is refused. Any failure is a `401` and nothing is read or
written. A stdlib version of `replicate.webhooks.validate` (a test checks the two agree): importing
the `replicate` package (httpx, pydantic) costs the webhook function ~15x a bare interpreter at cold
start (`make bench`) for a 20-line check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

from imagegen.errors import ConfigError, Unauthorized

TOLERANCE_SECONDS = 300


def secret_key(secret: str) -> bytes:
    prefix, _, encoded = secret.strip().partition("_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if prefix != "whsec" or not key:
        raise ConfigError("the webhook signing secret is not a whsec_<base64> value")
    return key


def new_secret() -> str:
    """A fresh signing secret in Standard Webhooks' form: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, webhook_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` header of `body`: v1,<base64 HMAC-SHA256 of id.timestamp.body>."""
    digest = hmac.new(secret_key(secret), f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, webhook_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers of an event we send."""
    timestamp = int(time.time() if now is None else now)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, webhook_id, timestamp, body),
    }


def verify_signature(
    headers: dict[str, str],
    body: bytes | str,
    secret: str,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise Unauthorized unless the Standard Webhooks signature of `body` is valid and fresh."""
    headers = {k.lower(): v for k, v in headers.items()}
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not webhook_id or not timestamp or not signatures:
        raise Unauthorized("missing_signature", "webhook-id, webhook-timestamp and webhook-signature are required")
    try:
        sent = int(timestamp)
    except ValueError:
        raise Unauthorized("invalid_signature", "webhook-timestamp is not a Unix time") from None
    if abs((time.time() if now is None else now) - sent) > tolerance:
        raise Unauthorized("stale_webhook", f"webhook-timestamp is more than {tolerance} s from now")
    payload = body.encode() if isinstance(body, str) else body
    expected = base64.b64decode(signature(secret, webhook_id, timestamp, payload)[3:])
    for candidate in signatures.split():
        version, _, encoded = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return
    raise Unauthorized("invalid_signature", "the webhook signature does not match")
