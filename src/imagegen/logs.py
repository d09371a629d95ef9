"""Structured logs and metrics for every function: stdlib logging, CloudWatch-ready.

- Every record from the `imagegen` logger carries the request's fields where known: request_id,
  route, function, job_id, provider, model, outcome, duration_ms (added by ContextFilter).
  Lambda's native JSON log format (Terraform sets `log_format = "JSON"`) turns them into JSON
  keys; off Lambda, JsonFormatter writes the same shape.
- Nothing secret reaches a log line: presigned URL signatures and credentials, Replicate tokens,
  webhook secrets, our API keys (anywhere, not only after Authorization), bearer tokens and long
  base64 runs (image bytes) are masked in the message
  and in every string field (Redactor), whatever the caller logged.
- metric(): CloudWatch Embedded Metric Format, one JSON line on stdout per metric, dimensioned
  by provider and model (plus a per-provider and an all-up roll-up for alarms). CloudWatch
  extracts them from the log group; no PutMetricData call, no extra permission.

api_handler (imagegen.api.events) opens a request with begin() and closes it with end(); modules add
what they learn with bind(job_id=..., provider=..., model=...).

Metrics (namespace settings.metrics_namespace(), default "imagegen"; the Terraform monitoring module's
alarms and dashboard read these names): ImagesStored, JobsFailed (reason), ProviderLatency (ms),
ProviderThrottled, WebhookRejected (reason), EstimatedCost (USD per invocation, duration only) and
SweeperActions (action: e.g. timed_out), which a sweeper emits as
`logs.metric("SweeperActions", n, action="timed_out")`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import platform
import re
import sys
import time
from typing import Any

from imagegen import settings

FIELDS = ("request_id", "route", "function", "job_id", "provider", "model", "outcome", "duration_ms")
# Lambda's price per GB-second for the architecture this process runs on (arm64: ~20% less).
GB_SECOND_PRICE = 0.0000133334 if platform.machine() in ("aarch64", "arm64") else 0.0000166667

_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("imagegen_log_fields", default=None)
# Lambda runs one request at a time per process; worker threads (edit's concurrent submits) do
# not inherit context variables, so they fall back to the request being served.
_process: dict[str, Any] = {}

SECRET_PATTERNS = [
    (
        re.compile(r"(?i)((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId)=)[^&\s\"'<>]+"),
        r"\1***",
    ),
    (re.compile(r"r8_[A-Za-z0-9]{8,}"), "r8_***"),
    (re.compile(r"whsec_[A-Za-z0-9+/=]+"), "whsec_***"),
    # our own API keys (imagegen.apikeys.KEY_PATTERN), wherever they appear: a key pasted into `model`
    # or a prompt is a secret all the same; the key id alone (igk_<16 hex>) stays readable
    (re.compile(r"(igk_[0-9a-f]{16})_[A-Za-z0-9_-]+"), r"\1_***"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1***"),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^,'\"}\s]+"), r"\1***"),
    (re.compile(r"[A-Za-z0-9+/]{200,}={0,2}"), "[base64 elided]"),
]


def redact(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def current() -> dict[str, Any]:
    return {**_process, **(_fields.get() or {})}


def bind(**fields: Any) -> None:
    """Add fields (job_id, provider, model, ...) to the current request's log lines and metrics."""
    known = {k: v for k, v in fields.items() if v not in (None, "")}
    _fields.set({**(_fields.get() or {}), **known})
    if _process:  # not job_id: edit's worker threads each bind their own job
        _process.update({k: v for k, v in known.items() if k != "job_id"})


def begin(request_id: str, route: str) -> float:
    """Start a request's context; returns its start time for end()."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
    fields = {"request_id": request_id, "route": route, "function": function}
    _fields.set(dict(fields))
    _process.clear()
    _process.update(fields)
    return time.perf_counter()


def end(started: float, status: int, outcome: str) -> None:
    """The request's one summary line (status, outcome, duration) and its cost estimate metric."""
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    bind(outcome=outcome, duration_ms=duration_ms)
    logging.getLogger("imagegen").info("request finished: %s %s", status, outcome, extra={"status": status})
    memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0") or 0)
    if memory_mb:  # what this invocation's duration costs at list price (us-east-1, 2026-11-24)
        metric("EstimatedCost", duration_ms / 1000 * memory_mb / 1024 * GB_SECOND_PRICE, "None")
    _fields.set(None)
    _process.clear()


class RedactedError(Exception):
    """Stands in for a logged exception whose message carried a secret (the record keeps its type)."""


class ContextFilter(logging.Filter):
    """Puts the request's fields on each record and masks secrets in message, fields and exception:
    on Lambda the record is formatted by the runtime (awslambdaric's JsonFormatter: `errorMessage` is
    str(exception)), not by us, so the record itself must carry nothing secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in ("msg", "name", "levelname", "pathname", "filename"):
                setattr(record, name, redact(value))
        if record.exc_info and record.exc_info[1] is not None:
            kind, error, trace = record.exc_info
            text = str(error)
            if redact(text) != text:
                record.exc_info, record.exc_text = (kind, RedactedError(redact(text)), trace), None
        return True


class JsonFormatter(logging.Formatter):
    """Lambda's JSON log shape off Lambda (local server, tests): one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update({name: getattr(record, name) for name in (*FIELDS, "status") if hasattr(record, name)})
        if record.exc_info:
            entry["errorType"] = record.exc_info[0].__name__ if record.exc_info[0] else ""
            entry["stackTrace"] = redact(self.formatException(record.exc_info)).splitlines()
        return json.dumps(entry, default=str)


def metric(name: str, value: float, unit: str = "Count", **dimensions: str) -> dict:
    """Write one EMF document to stdout; dimensions default to the request's provider and model."""
    fields = current()
    dims = dimensions or {"provider": fields.get("provider") or "none", "model": fields.get("model") or "none"}
    sets = [list(dims)]
    if len(dims) > 1:
        sets += [[name] for name in dims]
    sets.append([])  # the all-up series
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": settings.metrics_namespace(),
                    "Dimensions": sets,
                    "Metrics": [{"Name": name, "Unit": unit}],
                }
            ],
        },
        **{k: str(v) for k, v in dims.items()},
        name: value,
        **{k: fields[k] for k in ("function", "request_id", "job_id") if fields.get(k)},
    }
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or settings.emf_off_lambda():
        sys.stdout.write(json.dumps(document) + "\n")  # off Lambda (make serve) only when asked
    return document


def setup(level: str | None = None) -> None:
    """Set the `imagegen` logger's level and attach the filter once (idempotent). JSON formatting
    comes from Lambda itself (log_format = JSON) or, off Lambda, from whoever configures handlers."""
    logger = logging.getLogger("imagegen")
    if level:
        logger.setLevel(level)
    if not any(isinstance(f, ContextFilter) for f in logger.filters):
        logger.addFilter(ContextFilter())
