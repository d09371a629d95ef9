"""The provider contract: the one shape jobs/ calls, whatever the provider (imagegen.providers names them).

A provider module says when it answers (`ANSWERS`, "now" or "later"; the catalog's `providers` table
says the same for each row) and implements that half. Both halves:

    validate(row, params) -> None
        a 400 naming the field for anything the model cannot do, before anything is written.

Answers now (Bedrock, SageMaker): the images' bytes within the request.

    calls(row, model, params) -> list[Call]
        the model calls that make `params`, not yet made; each answers its images' bytes.
        jobs/ makes them a few at once, and retries a call the provider throttled (a 429 `throttled`).

Answers later (Replicate): a prediction that calls our webhook when it ends.

    ready() -> None
        its credentials read, or the ConfigError raised, before anything of a request is written.
    prediction_input(row, params, image=None, mask=None, overrides=None) -> dict
        the provider's input for a generation (no image) or one edit of `image` (a URL it fetches).
    submit(model, input, webhook) -> Prediction
    read(prediction_id) -> Prediction
    cancel(prediction_id) -> Prediction
    prediction(raw) -> Prediction        what a webhook delivered, in our words
    describe_error(exc) -> (status, code, message)

A Prediction is neutral: its status is ours (queued, running, succeeded, failed, canceled), so
nothing outside the provider knows what the provider calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# One model call of a provider that answers now: its images' bytes.
Call = Callable[[], list[bytes]]
NOW, LATER = "now", "later"


@dataclass(frozen=True)
class Prediction:
    """An answer-later provider's prediction, in our words."""

    id: str | None
    status: str  # queued | running | succeeded | failed | canceled
    outputs: tuple[str, ...] = ()  # the result files' URLs (succeeded)
    error: str | None = None
    error_code: str | None = None  # ours: aborted, output_removed, invalid_output
    metrics: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed", "canceled")
