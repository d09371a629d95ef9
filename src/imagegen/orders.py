"""What a parsed request asks for: an Order (the model's catalog row, the settings, the images, who asks).

Routes parse a request into an Order (every check done, nothing written); jobs.run carries it out
(now, or later through a job) and providers read its Params. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from imagegen import settings
from imagegen.errors import invalid

if TYPE_CHECKING:
    from imagegen.catalog import Model
    from imagegen.errors import ApiError

TASKS = ("generate", "edit", "variation")
# Images one request may ask for (OpenAI allows 10): a model that makes fewer per call is called
# concurrently, and 4 such calls fit in API Gateway's 30 s and Lambda's 6 MB answer.
MAX_N = 4
# The longest prompt any model here takes; each model then applies its own limit from the catalog.
MAX_PROMPT = 10000
# Model calls of one request running at once (the rest wait their turn): what bounds a request's memory
# (each call holds its source, encoded, and its answer) and its burst against the provider's quota.
CALLS_IN_FLIGHT = 4
# Model calls an answer within API Gateway's 29 s may make (two rounds of CALLS_IN_FLIGHT); more runs
# as a job (Prefer: respond-async), up to the cap on model calls.
SYNC_MODEL_CALLS = 2 * CALLS_IN_FLIGHT


def model_call_cap(limits: dict) -> int:
    """The billed model calls one request may make: the deployment's cap (MAX_MODEL_CALLS), or the key's
    own `max_model_calls` where it is lower."""
    return min(settings.max_model_calls(), int(limits.get("max_model_calls") or settings.max_model_calls()))


def check_model_calls(images: int, n: int, limit: int, answered_now: bool = False) -> None:
    """One request makes images x n billed model calls: past `limit` (MAX_MODEL_CALLS) a 400 naming `n`,
    or `image` when the images alone are past it. A request `answered_now` (a model that answers now,
    without Prefer: respond-async) may make SYNC_MODEL_CALLS at most: past that, a 400 saying to send
    the header (as a job it runs fine)."""
    if answered_now and limit >= images * n > SYNC_MODEL_CALLS:
        raise invalid(
            "n" if n > 1 else "image",
            f"{images} image(s) x n={n} is {images * n} model calls, more than fit in one answer within API "
            f"Gateway's 29 s (at most {SYNC_MODEL_CALLS}); send the header `Prefer: respond-async` to run it as a "
            "job (202, then GET /v1/jobs/{id} or a webhook)",
        )
    if images * n <= limit:
        return
    field = "n" if n > 1 and images <= limit else "image"
    raise invalid(
        field,
        f"{images} image(s) x n={n} would make {images * n} model calls; one request may make at most {limit}"
        + (f" (lower n to {max(1, limit // max(images, 1))})" if field == "n" else " (send fewer images per request)"),
    )


@dataclass(frozen=True)
class Params:
    """The one normalised request every sync provider takes, after type checks; None = the model's default.

    task: generate (text only), edit (image + prompt, optionally mask) or variation (image only).
    mask is already in the form providers take: a grayscale PNG the size of `image`, white where
    the image may change (imagegen.images.masks makes it from OpenAI's transparent-pixel mask).
    """

    prompt: str
    negative_prompt: str | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    n: int = 1
    task: str = "generate"
    image: bytes | None = field(default=None, repr=False)
    mask: bytes | None = field(default=None, repr=False)
    strength: float | None = None
    quality: str | None = None
    output_format: str | None = None  # OpenAI's names: png, jpeg, webp (None: the model's png)
    compression: int | None = None  # OpenAI's output_compression, 0-100 (jpeg, webp)

    def recorded(self) -> dict:
        """What a job record keeps of the request: the settings, never the image bytes."""
        skip = {"prompt", "image", "mask"}
        return {k: v for k, v in vars(self).items() if k not in skip and v is not None}


@dataclass(frozen=True)
class Source:
    """One image of a request: uploaded bytes (with their sniffed type), or a URL; or why it cannot be used."""

    field: str
    data: bytes | None = None
    content_type: str | None = None
    url: str | None = None
    error: ApiError | None = None

    def require(self) -> Source:
        if self.error:
            raise self.error
        return self


@dataclass(frozen=True)
class Order:
    """A checked request: the model (its catalog row and the name the provider is called with), the
    settings, the images it edits (none for a generation), how to answer and whose it is."""

    row: Model
    model: str  # what the provider is called with: a Bedrock id or profile, owner/name:version, an endpoint
    params: Params
    sources: tuple[Source, ...] = ()
    prompt_given: bool = True  # an edit may come without a prompt (params.prompt is then "")
    overrides: dict[str, Any] = field(default_factory=dict)  # Replicate inputs the client set (edits)
    response_format: str = "url"
    user: str | None = None  # the end user the client named (safety_identifier or user)
    owner: str | None = None  # the API key id of the caller, when keys are on
    limits: dict[str, Any] = field(default_factory=dict)  # that key's limits (jobs.limits checks them)
    asked: dict[str, str] = field(default_factory=dict)  # OpenAI's `size` etc. as sent, for errors and answers
    scaled: tuple[str, ...] = ()  # sources sent at another size than they came ("image: 4032x3024 -> ...")
    webhook: dict | None = None  # where the job's end is POSTed (jobs.webhooks): {"url", "events"}

    @property
    def provider(self) -> str:
        return self.row.provider

    @property
    def task(self) -> str:
        return self.params.task

    def for_source(self, source: Source) -> Params:
        """The params of one source image (an edit makes one call per uploaded image)."""
        return replace(self.params, image=source.data)

    def who(self) -> dict[str, Any]:
        """The job record's user and owner fields, where known (and the sources it scaled)."""
        found: dict[str, Any] = {k: v for k, v in (("user", self.user), ("owner", self.owner)) if v}
        if self.scaled:
            found["scaled"] = list(self.scaled)
        if self.webhook:
            found["webhook"] = self.webhook
        return found
