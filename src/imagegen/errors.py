"""Every exception of the package, and the guards that raise the 400s. Imports nothing of imagegen.

An ApiError is what a client can act on: the HTTP edge (imagegen.api.events) turns it into
`{"error": {"code", "message", "type", "param"}}` with its status. A ConfigError is the operator's to
fix: a 503 that says nothing more. Anything else is a 500 with no detail (and its trace in the log).
"""

from __future__ import annotations

# What an error may echo of the client's own text: a field name (or JSON path) and a whole message.
MAX_PARAM_CHARS = 64
MAX_MESSAGE_CHARS = 1000


def clip(text: str, limit: int = MAX_PARAM_CHARS) -> str:
    """At most `limit` characters of a client's text, cut visibly: an error never echoes a request back."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def param_of(field: str) -> str:
    """The request field (OpenAI's `param`) a message's field names: `image[2] (a.png)` -> `image`."""
    return field.split("[", 1)[0]


class ConfigError(RuntimeError):
    """The deployment is misconfigured: an operator must fix it, not the client."""


class ApiError(Exception):
    """An error the client can act on: becomes a 4xx (or 5xx for upstream) JSON error.

    Its message and param are clipped (clip): a 3 MB field name must not make a 6 MB answer,
    which Lambda cannot return (API Gateway would answer 5xx)."""

    # How long a throttled client should wait before retrying (a 429 always says so).
    RETRY_AFTER_SECONDS = 10

    def __init__(self, status: int, code: str, message: str, param: str | None = None, retry_after: int | None = None):
        message = clip(message, MAX_MESSAGE_CHARS)
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        # the request field at fault, when there is one (OpenAI's `param`)
        self.param = None if param is None else clip(param)
        self.retry_after = retry_after  # seconds, when the refusal knows when it ends (a rate window)

    @property
    def headers(self) -> dict[str, str]:
        if self.status != 429:
            return {}
        return {"retry-after": str(self.retry_after if self.retry_after is not None else self.RETRY_AFTER_SECONDS)}


def bad_request(code: str, message: str, param: str | None = None) -> ApiError:
    return ApiError(400, code, message, param)


def invalid(field: str, message: str) -> ApiError:
    """A 400 whose message starts with the offending field's name (`image[1] (b.png)`), its param the
    request field OpenAI's clients know (`image`)."""
    return ApiError(400, "invalid_parameter", f"{clip(field)}: {message}", param=param_of(field))


def check_range(field: str, value: float | None, low: float, high: float, model: str) -> None:
    if value is not None and not low <= value <= high:
        raise invalid(field, f"{value} is outside {low}..{high} for {model}")


def check_length(field: str, value: str | None, limit: int, model: str) -> None:
    if value is not None and len(value) > limit:
        raise invalid(field, f"{len(value)} characters is over the {limit}-character limit of {model}")


def refuse(field: str, value: object, model: str) -> None:
    if value is not None:
        raise invalid(field, f"{model} has no {field} setting; leave it out")


def check_output_format(value: str | None, made: tuple[str, ...], model: str, asked: str | None = None) -> None:
    """OpenAI's `output_format`, in the model's own spelling (`value`), one of those the model makes;
    the message names what the client asked for (`asked`, if spelled otherwise)."""
    if value is not None and value not in made:
        raise invalid("output_format", f"{model} makes {', '.join(made)}, not {asked or value}")


# -- jobs ----------------------------------------------------------------------------------------


class JobNotFound(ApiError):
    def __init__(self, job_id: str):
        super().__init__(404, "job_not_found", f"no job with id {job_id!r}")


class JobFinished(ApiError):
    def __init__(self, job: dict):
        super().__init__(409, "job_finished", f"the job is already {job['status']}; there is nothing to cancel")


# -- providers -----------------------------------------------------------------------------------


class ContentFiltered(ApiError):
    def __init__(self, detail: str):
        super().__init__(422, "content_filtered", f"the provider's content filter blocked this request ({detail})")


class ProviderError(ApiError):
    def __init__(self, message: str, status: int = 502, code: str = "provider_error"):
        super().__init__(status, code, message)


class NoTimeToRetry(Exception):
    """A retryable answer came too late for another whole attempt inside the sync deadline."""

    def __init__(self, code: str, message: str):
        super().__init__(code)
        self.code, self.message = code, message


class SubmitFailed(ApiError):
    """Replicate refused the prediction (502) or could not be reached (503); the job is marked failed."""

    def __init__(self, status: int, code: str, message: str, job: dict | None = None):
        super().__init__(status, code, message)
        self.job = job


# -- the webhook ---------------------------------------------------------------------------------


class Unauthorized(ApiError):
    def __init__(self, code: str, message: str):
        super().__init__(401, code, message)


class Transient(Exception):
    """An output could not be fetched right now: answer 5xx so Replicate delivers again."""
