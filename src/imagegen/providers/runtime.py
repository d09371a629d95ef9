"""Calling synchronous model runtimes (Bedrock, SageMaker): client settings and error mapping.

Timing: API Gateway's HTTP API gives an integration 30 s, whatever the Lambda timeout, so a
sync call has one deadline, retries included: SYNC_BUDGET_SECONDS from its first attempt. Each
attempt reads for at most BEDROCK_READ_TIMEOUT seconds (default 25), and botocore's standard
retries (3 attempts) retry quick failures such as throttling and 5xx answers only while a
whole further attempt still fits in the budget; a read timeout is never retried. A call that
cannot be retried in time answers with the error it got (a timeout is a 504). Models slower than
that belong on the async Replicate path. The generate Lambda's timeout must be above the read
timeout (e.g. 30 s for 25 s) so a timeout is reported as a clean 504 rather than killing the Lambda.

Endpoints come from botocore's own configuration: `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` and
`AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` point the clients at the local fakes
(localdev/fake_models.py) in tests and `make serve`; production sets neither.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from imagegen import aws, logs, settings
from imagegen.errors import ApiError, ContentFiltered, NoTimeToRetry, ProviderError

log = logging.getLogger("imagegen")

THROTTLED = frozenset({"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"})
TIMEOUTS = frozenset({"ModelTimeoutException"})
UNAVAILABLE = frozenset({"AccessDeniedException", "ResourceNotFoundException", "UnrecognizedClientException"})


class _HashableDict(dict):
    """A dict that botocore's Config accepts and aws.client's cache can key on."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))


# Standard retries, 3 attempts in all: total_max_attempts counts the first call, whereas
# botocore's max_attempts counts only the retries (max_attempts=3 would be 4 calls).
RETRIES = _HashableDict(mode="standard", total_max_attempts=3)
FILTER_WORDS = ("content filter", "blocked", "filtered", "responsible ai", "content policy")
# API Gateway's 30 s integration limit, less a second to write the answer.
SYNC_BUDGET_SECONDS = 29.0
_call = threading.local()  # when the current thread's sync call started (its deadline's origin)


def read_timeout() -> int:
    return settings.bedrock_read_timeout()


def runtime_client(service: str, region: str | None = None):
    """The cached botocore client for `bedrock-runtime` or `sagemaker-runtime` in `region` (None: the
    stack's), timeouts set."""
    client = aws.client(service, region_name=region, read_timeout=read_timeout(), connect_timeout=5, retries=RETRIES)
    # Registered first so it can stop the standard retry handler from retrying past the deadline.
    client.meta.events.register_first(
        f"needs-retry.{client.meta.service_model.service_id.hyphenize()}",
        _retry_only_in_time,
        unique_id="imagegen-retry-only-in-time",
    )
    return client


def _retry_only_in_time(caught_exception: Exception | None = None, response: Any = None, **_: Any) -> None:
    """Stop botocore's retries when the next attempt could outlive the sync deadline (or after a read
    timeout, which would not fit anyway): the caller then answers with what it got."""
    from botocore.exceptions import ReadTimeoutError

    if isinstance(caught_exception, ReadTimeoutError):
        raise caught_exception
    error = (response[1] if response else {}).get("Error", {})
    if caught_exception is None and not error:
        return  # botocore asks after every attempt: a success needs no retry, however long it took
    started = getattr(_call, "started", None)
    if started is None or time.monotonic() - started + read_timeout() <= SYNC_BUDGET_SECONDS:
        return
    if caught_exception is not None:
        raise caught_exception
    raise NoTimeToRetry(str(error.get("Code", "")), str(error.get("Message", "")))


def looks_filtered(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in FILTER_WORDS)


def call(provider: str, operation: Callable[[], Any]) -> Any:
    """Run one runtime call and turn what can go wrong into a clear ApiError."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    logs.bind(provider=provider)
    started = time.perf_counter()
    _call.started = time.monotonic()
    try:
        answer = operation()
        logs.metric("ProviderLatency", round((time.perf_counter() - started) * 1000, 1), "Milliseconds")
        return answer
    except (ReadTimeoutError, ConnectTimeoutError):
        raise ProviderError(
            f"{provider} did not answer within {read_timeout()} s; slow models belong on the async provider",
            504,
            "provider_timeout",
        ) from None
    except NoTimeToRetry as exc:
        log.warning("%s error %s (no time left to retry): %s", provider, exc.code, exc.message)
        raise map_client_error(provider, exc.code or "ServiceUnavailable", exc.message) from None
    except (EndpointConnectionError, ConnectionClosedError) as exc:
        log.error("%s unreachable: %s", provider, exc)
        raise ProviderError(f"{provider} could not be reached", 502) from None
    except Exception as exc:
        code = aws.error_code(exc)
        if not code:
            raise
        message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
        log.warning("%s error %s: %s", provider, code, message)
        raise map_client_error(provider, code, message) from None
    finally:
        _call.started = None


def map_client_error(provider: str, code: str, message: str) -> ApiError:
    """The API error for an AWS error code from a model runtime."""
    if code in THROTTLED:
        return ApiError(429, "throttled", f"{provider} is throttling requests; retry after a short wait")
    if code in TIMEOUTS:
        return ProviderError(f"the {provider} model timed out", 504, "provider_timeout")
    if code.startswith("Validation") and looks_filtered(message):
        return ContentFiltered(message or code)
    if code in UNAVAILABLE:
        # Model access not enabled, model not in this region, endpoint deleted: an operator must act.
        return ProviderError(f"{provider} is not available to this deployment ({code})", 503, "provider_unavailable")
    if code.startswith("Validation"):
        return ProviderError(f"{provider} rejected the request: {message or code}", 422, "provider_rejected")
    return ProviderError(f"{provider} failed ({code})")
