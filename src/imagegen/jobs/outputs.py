"""Storing a finished prediction's result (a neutral providers.contract.Prediction): the one path for the
webhook and the sweeper (apply_prediction).

- `succeeded`: every output URL must be https on an allowed Replicate delivery host
  (REPLICATE_OUTPUT_HOSTS) before any is fetched; each file is streamed (64 KiB at a time, to a
  temporary file, never whole in memory) with a size cap (MAX_OUTPUT_BYTES) and its magic bytes
  checked, then written to images/{yyyy}/{mm}/{dd}/{job_id}/{n}.{ext} with If-None-Match (the date
  is the job's, so a redelivery writes the same keys). A prediction the provider says has nothing to
  fetch (Replicate's `data_removed`, an output that is not URLs) comes failed, with the reason.
- `failed`/`canceled`: the error is recorded (and its code: `aborted`, when the prediction's deadline,
  our Cancel-After, passed before it started).
- Job status only moves forward (records.update uses If-Match): a duplicate or concurrent delivery
  finds the job finished, or loses the race, and changes nothing.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import IO
from urllib.parse import urlsplit

from imagegen import aws, bucket, catalog, settings
from imagegen.errors import ApiError, Transient, bad_request
from imagegen.images import formats
from imagegen.jobs import records
from imagegen.providers.contract import Prediction

log = logging.getLogger("imagegen")

CHUNK_BYTES = 64 * 1024
DOWNLOAD_TIMEOUT = 20
# Stop this long before the invocation's end: answer a 5xx (Replicate delivers again) rather than
# be killed mid-write. Without a Lambda context (the sweeper's own loop), each job gets DEFAULT_BUDGET.
SAFETY_SECONDS = 3.0
DEFAULT_BUDGET_SECONDS = 25.0
# A response Content-Type we accept before checking the bytes themselves.
OUTPUT_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")


# -- the outputs ------------------------------------------------------------------------------


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
    if parts.scheme != "https" and not settings.http_loopback_allowed(parts.scheme, host):
        return False
    for entry in settings.replicate_output_hosts() if hosts is None else hosts:
        name, _, entry_port = entry.partition(":")
        if entry_port and str(port) != entry_port:
            continue
        if not entry_port and port not in (None, 443):
            continue
        if host == name or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


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
    media_type = formats.sniff(head)
    if media_type is None:
        raise ApiError(415, "output_not_an_image", "an output file is not a PNG, JPEG, WebP or GIF image")
    return media_type


def store_outputs(job: dict, urls: list[str], deadline: float | None = None) -> list[dict]:
    """Fetch and store each output before `deadline`; returns the image entries for the job record."""
    deadline = deadline or time.monotonic() + DEFAULT_BUDGET_SECONDS
    when = datetime.fromisoformat(job["created_at"])
    limit = settings.max_output_bytes()
    stored = []
    for n, url in enumerate(urls):
        with tempfile.TemporaryFile() as spool:
            content_type = download(url, spool, limit, deadline)
            seconds_left(deadline)  # the write must fit too
            size = spool.tell()
            spool.seek(0)
            compression = (job.get("parameters") or {}).get("compression")
            if catalog.recompresses(job.get("model"), compression):  # the model has no setting for it
                from imagegen.images import pillow

                encoded = pillow.recompressed(spool.read(), f"output {n}", compression)
                spool.seek(0)
                spool.truncate()
                spool.write(encoded)
                size = spool.tell()
                spool.seek(0)
            key = bucket.image_key(job["id"], n, content_type, when)
            if bucket.put_new(key, spool, content_type):
                log.info("job %s: stored %s (%d bytes)", job["id"], key, size)
            else:
                log.info("job %s: %s was already stored", job["id"], key)
        stored.append({"key": key, "content_type": content_type, "bytes": size})
    return stored


# -- the job ------------------------------------------------------------------------

# A prediction that succeeded with nothing we can store: the job fails, and the answer says so.
NOTHING_TO_STORE = {"invalid_output": 400, "output_removed": 410}


def fail(job_id: str, err: ApiError) -> None:
    """Record a permanent problem with the result on the job, then answer it."""
    records.mark_failed(job_id, err.message, err.code)
    raise err


def apply_prediction(job: dict, prediction: Prediction, deadline: float | None = None) -> dict:
    """Move an open job to where its provider's prediction is: the one path for the webhook and the sweeper.

    `succeeded`: outputs stored, then the job; a permanent problem with the outputs fails the job
    (and is raised as its 4xx); a transient one raises a 502 and leaves the job open for a retry.
    """
    job_id = job["id"]
    if prediction.status == "failed" and prediction.error_code in NOTHING_TO_STORE:
        fail(job_id, ApiError(NOTHING_TO_STORE[prediction.error_code], prediction.error_code, prediction.error or ""))
    if prediction.status == "succeeded":
        urls = list(prediction.outputs)
        if not all(url_allowed(url) for url in urls):
            fail(job_id, bad_request("output_url_not_allowed", "an output URL is not https on an allowed host"))
        try:
            stored = store_outputs(job, urls, deadline)
        except Transient as exc:
            log.warning("job %s: %s", job_id, exc)
            raise ApiError(502, "output_unavailable", str(exc)) from None
        except ApiError as err:
            fail(job_id, err)
        except Exception as exc:  # S3 failed us: answer 5xx so the provider delivers again
            if not aws.is_aws_error(exc):
                raise
            log.warning("job %s: storing an output failed: %s", job_id, aws.error_code(exc) or type(exc).__name__)
            raise ApiError(503, "storage_unavailable", "the result could not be stored right now; retry") from None
        cost = catalog.image_cost(job.get("model"), len(stored))
        return records.finish(job_id, "succeeded", images=stored, metrics=prediction.metrics, **cost)
    if prediction.status in ("failed", "canceled"):
        code = {"error_code": prediction.error_code} if prediction.error_code else {}
        return records.finish(
            job_id, prediction.status, error=prediction.error or f"the prediction {prediction.status}", **code
        )
    return records.finish(job_id, prediction.status)
