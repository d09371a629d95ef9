"""Replicate's webhook (`POST /v1/webhooks/replicate?job_id=...`): verify it, store the result.

1. The signature is checked before anything else (Standard Webhooks, which Replicate uses):
   HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64 part of the
   `whsec_` secret, compared in constant time with each `v1,<base64>` in `webhook-signature`;
   a timestamp more than TOLERANCE_SECONDS away from now is refused. Any failure is a `401`
   and nothing is read or written. This is a stdlib version of `replicate.webhooks.validate`
   (a test checks the two agree): importing the `replicate` package (httpx, pydantic) costs
   the webhook function ~15x a bare interpreter at cold start (`make bench`) for a 20-line check.
2. The job comes from our `job_id` in the URL; the prediction id in the body must be the one
   recorded on the job.
3. `succeeded`: every output URL must be https on an allowed Replicate delivery host
   (REPLICATE_OUTPUT_HOSTS) before any is fetched; each file is streamed (64 KiB at a time, to
   a temporary file, never whole in memory) with a size cap (MAX_OUTPUT_BYTES) and its magic
   bytes checked, then written to images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} with
   If-None-Match (the date is the job's, so a redelivery writes the same keys).
   `failed`/`canceled`: the error is recorded. `aborted` (the prediction's deadline, our
   Cancel-After, passed before it started) fails the job, saying so. A succeeded prediction whose
   outputs Replicate already removed (`data_removed`, an hour after it ends by default) fails the
   job with that reason: there is nothing left to fetch, so it is never retried.
4. Job status only moves forward (jobs.update uses If-Match): a duplicate or concurrent delivery
   finds the job finished, or loses the race, and changes nothing; both get a 2xx.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import IO, Any
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from imagegen import aws, config, images, jobs, secrets, storage
from imagegen.config import ConfigError, env_int, env_list
from imagegen.http import ApiError, Request, bad_request, json_response, parse_json

log = logging.getLogger("imagegen")

TOLERANCE_SECONDS = 300
DEFAULT_OUTPUT_HOSTS = "replicate.delivery,*.replicate.delivery"
CHUNK_BYTES = 64 * 1024
DOWNLOAD_TIMEOUT = 20
# Stop this long before the invocation's end: answer a 5xx (Replicate delivers again) rather than
# be killed mid-write. Without a Lambda context (the sweeper's own loop), each job gets DEFAULT_BUDGET.
SAFETY_SECONDS = 3.0
DEFAULT_BUDGET_SECONDS = 25.0
# A response Content-Type we accept before checking the bytes themselves.
OUTPUT_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")


class Unauthorized(ApiError):
    def __init__(self, code: str, message: str):
        super().__init__(401, code, message)


class Transient(Exception):
    """The output could not be fetched right now: answer 5xx so Replicate delivers again."""


# -- 1. signature ----------------------------------------------------------------------------


def secret_key(secret: str) -> bytes:
    prefix, _, encoded = secret.strip().partition("_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if prefix != "whsec" or not key:
        raise ConfigError("the webhook signing secret is not a whsec_<base64> value")
    return key


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
    expected = hmac.new(secret_key(secret), f"{webhook_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
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


# -- 3. outputs ------------------------------------------------------------------------------


def output_hosts() -> list[str]:
    return [host.lower() for host in env_list("REPLICATE_OUTPUT_HOSTS", DEFAULT_OUTPUT_HOSTS)]


def max_output_bytes() -> int:
    return env_int("MAX_OUTPUT_BYTES", 25 * 1024 * 1024, 1024, 1024 * 1024 * 1024)


# A host name and nothing else (labels of letters, digits and hyphens), or an IPv4 literal: `\`, `%`
# and the like parse as part of a "host" here and mean something else to an HTTP client.
HOSTNAME = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def url_allowed(url: str, hosts: list[str] | None = None) -> bool:
    """True for https URLs on an allowed host (`*.` = any subdomain, `host:port` = that port only).

    http is allowed only to loopback hosts and only with REPLICATE_ALLOW_HTTP_LOOPBACK=1 (tests,
    make serve offline); production never sets it.
    """
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return False
    if not host or parts.username or parts.password or not HOSTNAME.fullmatch(host):
        return False
    if parts.scheme != "https" and not config.http_loopback_allowed(parts.scheme, host):
        return False
    for entry in output_hosts() if hosts is None else hosts:
        name, _, entry_port = entry.partition(":")
        if entry_port and str(port) != entry_port:
            continue
        if not entry_port and port not in (None, 443):
            continue
        if host == name or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def output_urls(output: Any) -> list[str]:
    """The file URLs in a prediction's `output`: a URL, a list of URLs (nested lists flattened)."""
    if isinstance(output, str):
        return [output]
    if isinstance(output, list):
        return [url for item in output for url in output_urls(item)]
    raise bad_request("invalid_output", "the prediction output is not a URL or a list of URLs")


class AllowlistRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to another allowed URL."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if not url_allowed(newurl):
            raise ApiError(400, "output_url_not_allowed", "an output URL redirects off the allowed hosts")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def seconds_left(deadline: float) -> float:
    """Time left before we must answer; Transient (a 5xx, so Replicate delivers again) when it is up."""
    left = deadline - SAFETY_SECONDS - time.monotonic()
    if left <= 0:
        raise Transient("out of time storing the outputs; deliver again")
    return left


def download(url: str, target: IO[bytes], limit: int, deadline: float | None = None) -> str:
    """Stream `url` into `target` (at most `limit` bytes) before `deadline`; the image's sniffed media type."""
    deadline = deadline or time.monotonic() + DEFAULT_BUDGET_SECONDS
    if not url_allowed(url):
        raise ApiError(400, "output_url_not_allowed", "an output URL is not https on an allowed host")
    opener = urllib.request.build_opener(AllowlistRedirects)
    # No Authorization header: the API token goes to Replicate's API only, never to file hosts.
    request = urllib.request.Request(url, headers={"user-agent": "imagegen-webhook"})  # noqa: S310 (url_allowed)
    try:
        response = opener.open(request, timeout=min(DOWNLOAD_TIMEOUT, seconds_left(deadline)))
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            raise ApiError(400, "output_not_found", f"an output file answered {exc.code}") from None
        raise Transient(f"an output file answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Transient(f"an output file could not be fetched ({type(exc).__name__})") from None
    with response:
        declared = response.headers.get("content-type", "application/octet-stream").lower()
        if not declared.startswith(OUTPUT_TYPES):
            raise ApiError(415, "output_not_an_image", f"an output file is {declared.split(';')[0]}, not an image")
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise ApiError(413, "output_too_large", f"an output file is {length} bytes; the limit is {limit}")
        size, head = 0, b""
        try:
            while chunk := response.read(CHUNK_BYTES):
                seconds_left(deadline)
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "output_too_large", f"an output file is over the {limit} byte limit")
                if len(head) < 16:
                    head += chunk[:16]
                target.write(chunk)
        except OSError as exc:
            raise Transient(f"an output file broke off ({type(exc).__name__})") from None
    media_type = images.sniff(head)
    if media_type is None:
        raise ApiError(415, "output_not_an_image", "an output file is not a PNG, JPEG, WebP or GIF image")
    return media_type


def store_outputs(job: dict, urls: list[str], deadline: float | None = None) -> list[dict]:
    """Fetch and store each output before `deadline`; returns the image entries for the job record."""
    deadline = deadline or time.monotonic() + DEFAULT_BUDGET_SECONDS
    when = datetime.fromisoformat(job["created_at"])
    limit = max_output_bytes()
    stored = []
    for n, url in enumerate(urls):
        with tempfile.TemporaryFile() as spool:
            content_type = download(url, spool, limit, deadline)
            seconds_left(deadline)  # the write must fit too
            size = spool.tell()
            spool.seek(0)
            key = storage.image_key(job["id"], n, content_type, when)
            if storage.put_new(key, spool, content_type):
                log.info("job %s: stored %s (%d bytes)", job["id"], key, size)
            else:
                log.info("job %s: %s was already stored", job["id"], key)
        stored.append({"key": key, "content_type": content_type, "bytes": size})
    return stored


# -- 2 and 4. the job ------------------------------------------------------------------------


def finish(job_id: str, status: str, **fields: Any) -> dict:
    return jobs.update(job_id, lambda job: {**job, "status": status, **fields})


def fail(job_id: str, err: ApiError) -> None:
    """Record a permanent problem with the result on the job, then answer it."""
    finish(job_id, "failed", error=err.message, error_code=err.code)
    raise err


def load_job(request: Request, prediction: dict) -> dict:
    job_id = request.query.get("job_id", "")
    if not storage.is_job_id(job_id):
        raise bad_request("unknown_job", "the webhook URL carries no valid job_id")
    try:
        job = jobs.get(job_id)
    except jobs.JobNotFound:
        raise bad_request("unknown_job", f"no job {job_id}") from None
    prediction_id = prediction.get("id")
    if not job.get("prediction_id") and job["status"] not in jobs.TERMINAL:
        # The submit has not recorded the id yet: Replicate retries a non-2xx webhook.
        raise ApiError(409, "job_not_ready", "the job has no prediction id yet; deliver again")
    if not isinstance(prediction_id, str) or prediction_id != job.get("prediction_id"):
        raise bad_request("prediction_mismatch", "the prediction id does not belong to this job")
    return job


def handle(request: Request) -> dict:
    verify_signature(request.headers, request.body, secrets.parameter("REPLICATE_WEBHOOK_SECRET_PARAM"))
    prediction = parse_json(request.body, "the webhook body")
    if not isinstance(prediction, dict):
        raise bad_request("invalid_json", "the webhook body must be a prediction object")
    job = load_job(request, prediction)
    if job["status"] in jobs.TERMINAL:
        log.info("job %s: already %s, webhook ignored", job["id"], job["status"])
        return json_response(200, {"id": job["id"], "status": job["status"], "duplicate": True})
    job = apply_prediction(job, prediction, request.deadline)
    return json_response(200, {"id": job["id"], "status": job["status"]})


# Replicate's final prediction statuses (aborted: its deadline passed before it could start).
FINAL_STATUSES = ("succeeded", "failed", "canceled", "aborted")


def apply_prediction(job: dict, prediction: dict, deadline: float | None = None) -> dict:
    """Move an open job to where Replicate's prediction is: the one path for the webhook and the sweeper.

    `succeeded`: outputs stored, then the job; a permanent problem with the outputs fails the job
    (and is raised as its 4xx); a transient one raises a 502 and leaves the job open for a retry.
    """
    job_id, status = job["id"], prediction.get("status")
    if status == "succeeded" and prediction.get("data_removed"):
        message = "Replicate removed the prediction's outputs (data_removed) before they could be stored"
        fail(job_id, ApiError(410, "output_removed", message))
    if status == "succeeded":
        try:
            urls = output_urls(prediction.get("output"))
        except ApiError as err:
            fail(job_id, err)
        if not urls:
            fail(job_id, bad_request("invalid_output", "the prediction succeeded with no output"))
        if not all(url_allowed(url) for url in urls):
            fail(job_id, bad_request("output_url_not_allowed", "an output URL is not https on an allowed host"))
        try:
            stored = store_outputs(job, urls, deadline)
        except Transient as exc:
            log.warning("job %s: %s", job_id, exc)
            raise ApiError(502, "output_unavailable", str(exc)) from None
        except (BotoCoreError, ClientError) as exc:  # S3 failed us: answer 5xx so Replicate delivers again
            log.warning("job %s: storing an output failed: %s", job_id, aws.error_code(exc) or type(exc).__name__)
            raise ApiError(503, "storage_unavailable", "the result could not be stored right now; retry") from None
        except ApiError as err:
            fail(job_id, err)
        return finish(job_id, "succeeded", images=stored, metrics=prediction.get("metrics") or {})
    if status in ("failed", "canceled"):
        error = prediction.get("error") or f"the prediction was {status}"
        return finish(job_id, status, error=str(error)[:2000])
    if status == "aborted":
        error = "the prediction was aborted: its deadline (the job timeout) passed before Replicate could start it"
        return finish(job_id, "failed", error=error, error_code="aborted")
    if status in ("starting", "processing"):
        return finish(job_id, "running")
    raise bad_request("invalid_status", f"unknown prediction status {str(status)[:50]!r}")
