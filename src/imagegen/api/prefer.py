"""`Prefer: wait[=N]` (RFC 7240, as Replicate's own API): hold the answer until async jobs finish.

Only on request: a waiting Lambda is billed for every second it waits, which is why the default
answer to an async job is an immediate 202. N is capped at PREFER_WAIT_MAX_SECONDS (default 20,
below API Gateway's 30 s limit); the waiting itself is imagegen.jobs.waiting.
"""

from __future__ import annotations

import re

from imagegen import settings
from imagegen.api.events import Request

WAIT = re.compile(r"^\s*wait\s*(?:=\s*\"?(\d{1,4})\"?)?\s*$", re.IGNORECASE)


def requested(request: Request) -> int | None:
    """Seconds the client asked to wait (capped), or None: no `wait` preference, or one we ignore
    (RFC 7240: a preference that cannot be honoured is ignored, and Preference-Applied says so)."""
    cap = settings.prefer_wait_max_seconds()
    for preference in re.split(r"[,;]", request.headers.get("prefer", "")):
        match = WAIT.match(preference)
        if match:
            asked = int(match.group(1)) if match.group(1) else cap
            return min(asked, cap)
    return None


def applied(seconds: int | None) -> dict[str, str]:
    """The Preference-Applied header of a wait that was honoured ({} when none was asked for)."""
    return {} if seconds is None else {"preference-applied": f"wait={seconds}"}
