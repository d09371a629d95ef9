"""API keys: `Authorization: Bearer igk_<id>_<secret>`, checked by the HTTP API's Lambda authorizer.

A key is shown once, when it is minted (`make api-key NAME=...`); the bucket keeps only its
SHA-256 at auth/api-keys/{id}.json with its name, creation time, optional expiry and revocation
time. The secret part is 256 random bits, so a plain SHA-256 is enough (a slow password hash
protects guessable secrets; these are not) and the check is one S3 read and a constant-time
comparison. The id in the key finds the record without a scan and becomes the caller's identity:
jobs record it as their owner.

Revocation and expiry take effect on the next authorizer call; API Gateway caches an allowed key
for the authorizer's result TTL (Terraform `auth.cache_seconds`), so allow that long.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from imagegen import aws, bucket, settings

log = logging.getLogger("imagegen")

PREFIX = "igk_"
KEY_ID = re.compile(r"[0-9a-f]{16}")  # a key's id: its public half, the owner of its jobs and usage
KEY_PATTERN = re.compile(rf"igk_({KEY_ID.pattern})_([A-Za-z0-9_-]{{43}})")
RECORDS = "auth/api-keys/"


@dataclass(frozen=True)
class Verdict:
    """The authorizer's decision: the key's record when allowed, else why not (never the key)."""

    allowed: bool
    reason: str
    key_id: str | None = None
    name: str | None = None
    limits: dict | None = None


def record_key(key_id: str) -> str:
    return f"{RECORDS}{key_id}.json"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(timezone.utc)


# What a key may carry (docs/auth.md): None or absent, no such limit.
LIMITS = {
    "budget_usd_day": (int, float),
    "budget_usd_month": (int, float),
    "rpm": int,
    "models": list,
    "max_model_calls": int,
    "webhook": str,  # not a limit: the key's default webhook (jobs.webhooks), carried with its limits
}


def check_limits(limits: dict) -> dict:
    """The limits, checked (ValueError saying which is wrong), without the unset ones; model names are
    catalog names (an alias or one of OpenAI's names resolves to its catalog name first)."""
    from imagegen import catalog

    unknown = sorted(set(limits) - set(LIMITS))
    if unknown:
        raise ValueError(f"unknown limit {unknown[0]!r}; the limits are {', '.join(LIMITS)}")
    found = {}
    for name, value in limits.items():
        if value is None or value == []:
            continue
        if value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, LIMITS[name]):
            kind = {"models": "a list of model names", "webhook": "an https URL"}.get(name, "a number")
            raise ValueError(f"{name} must be {kind}")
        if name == "webhook":
            if not value.startswith("https://") or len(value) > 2048:
                raise ValueError("webhook must be an https:// URL (at most 2048 characters)")
            found[name] = value
            continue
        if name == "models":
            rows = [catalog.find(model) for model in value]
            if None in rows:
                raise ValueError(f"models: {value[rows.index(None)]!r} is not a model of the catalog")
            value = list(dict.fromkeys(row.name for row in rows))
        elif value <= 0:
            raise ValueError(f"{name} must be above 0")
        found[name] = value
    return found


def defaults(parameter: str) -> dict:
    """The deployment's limits for new keys (Terraform `keys`, in SSM parameter `parameter`); {} where
    it sets none or the parameter does not exist."""
    try:
        value = aws.client("ssm").get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except Exception as exc:
        if aws.error_code(exc) == "ParameterNotFound":
            return {}
        raise
    return json.loads(value)


def set_limits(key_id: str, limits: dict) -> dict:
    """Change a key's limits (the key stays the same); KeyError if there is no such key. Takes effect
    at the next authorizer call, so within auth.cache_seconds."""
    for _ in range(10):
        record, etag = bucket.read_json(record_key(key_id))
        if record is None:
            raise KeyError(key_id)
        record["limits"] = check_limits({**(record.get("limits") or {}), **limits})
        if bucket.write_json(record_key(key_id), record, etag):
            return record
    raise RuntimeError(f"key {key_id}: its record kept changing; try again")


def mint(name: str, expires_in_days: int | None = None, limits: dict | None = None) -> tuple[str, dict]:
    """A new key and its stored record; the key itself is returned once and never stored."""
    if not name.strip() or len(name) > 100:
        raise ValueError("a key needs a name of 1 to 100 characters")
    key_id = secrets.token_hex(8)
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    created = now()
    record = {
        "id": key_id,
        "name": name.strip(),
        "sha256": digest(key),
        "created_at": created.isoformat(timespec="seconds"),
        "expires_at": (created + timedelta(days=expires_in_days)).isoformat(timespec="seconds")
        if expires_in_days
        else None,
        "revoked_at": None,
        "limits": check_limits(limits or {}),
    }
    check_record(record)
    aws.client("s3").put_object(
        Bucket=settings.bucket_name(),
        Key=record_key(key_id),
        Body=json.dumps(record).encode(),
        ContentType="application/json",
        IfNoneMatch="*",
    )
    return key, record


def check_record(record: dict) -> datetime | None:
    """The record's expiry (None: never), or ValueError if the record is not one we wrote: a hash that
    is not one, an expiry that is not a date with its timezone (comparing it would fail)."""
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str) or len(record["sha256"]) != 64:
        raise ValueError("the record has no SHA-256")
    expires = record.get("expires_at")
    if expires is None:
        return None
    when = datetime.fromisoformat(expires) if isinstance(expires, str) else None
    if when is None or when.tzinfo is None:
        raise ValueError(f"expires_at {str(expires)[:40]!r} is not a date and time with a timezone")
    return when


def read(key_id: str) -> dict | None:
    return bucket.read_json(record_key(key_id))[0]


def revoke(key_id: str) -> dict:
    """Mark a key revoked (idempotent); KeyError if there is no such key."""
    record = read(key_id)
    if record is None:
        raise KeyError(key_id)
    if not record.get("revoked_at"):
        record["revoked_at"] = now().isoformat(timespec="seconds")
        aws.client("s3").put_object(
            Bucket=settings.bucket_name(),
            Key=record_key(key_id),
            Body=json.dumps(record).encode(),
            ContentType="application/json",
        )
    return record


def list_keys() -> list[dict]:
    """Every key's record (no secrets: the records hold hashes only)."""
    found = []
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.bucket_name(), Prefix=RECORDS):
        for item in page.get("Contents", []):
            record = read(item["Key"].removeprefix(RECORDS).removesuffix(".json"))
            if record:
                found.append({k: v for k, v in record.items() if k != "sha256"})
    return sorted(found, key=lambda r: r["created_at"])


def bearer(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    scheme, _, token = (header or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def verify(header: str | None) -> Verdict:
    """Check an Authorization header against the stored keys."""
    token = bearer(header)
    if token is None:
        return Verdict(False, "missing_bearer_token")
    match = KEY_PATTERN.fullmatch(token)
    if not match:
        return Verdict(False, "malformed_key")
    try:
        record = read(match.group(1))
        expires = check_record(record) if record is not None else None
    except ValueError as exc:  # a record we cannot trust (edited by hand, truncated): the answer is no
        log.warning("API key %s has a bad record: %s", match.group(1), exc)
        return Verdict(False, "bad_record", match.group(1))
    # Compared even when there is no record, so a missing id costs the same as a wrong secret.
    expected = record["sha256"] if record else digest("")
    if not hmac.compare_digest(expected, digest(token)) or record is None:
        return Verdict(False, "unknown_key")
    if record.get("revoked_at"):
        return Verdict(False, "revoked_key", record["id"])
    if expires and expires <= now():
        return Verdict(False, "expired_key", record["id"])
    return Verdict(True, "ok", record["id"], record.get("name"), record.get("limits") or {})
