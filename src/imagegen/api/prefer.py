"""`Prefer` (RFC 7240): `respond-async` makes any image request a job (202 at once, for every model);
`wait[=N]` (as Replicate's own API) holds the answer until a model that answers later has finished.

Without either, a request to a model that answers later waits as `wait` would (up to
PREFER_WAIT_MAX_SECONDS, default 20, below API Gateway's 30 s): a client that knows nothing of jobs
(the openai SDKs, LangChain, curl) then gets its images in the answer, not a 202 whose empty `data`
it reads as "no image". A client that can follow a job sends `Prefer: respond-async` and pays for no
waiting Lambda. The waiting itself is imagegen.jobs.waiting.
"""

from __future__ import annotations

import re

from imagegen import settings
from imagegen.api.events import Request

WAIT = re.compile(r"^\s*wait\s*(?:=\s*\"?(\d{1,4})\"?)?\s*$", re.IGNORECASE)


ASYNC = re.compile(r"^\s*respond-async\s*$", re.IGNORECASE)


def preferences(request: Request) -> list[str]:
    return re.split(r"[,;]", request.headers.get("prefer", ""))


def respond_async(request: Request) -> bool:
    """The client asked for a job: `Prefer: respond-async`."""
    return any(ASYNC.match(preference) for preference in preferences(request))


def wait_for_later(request: Request) -> int | None:
    """Seconds to wait for a model that answers later: what `wait` asked for; none with respond-async
    alone; without a preference, the longest wait (see above)."""
    asked = requested(request)
    if asked is not None or respond_async(request):
        return asked
    return settings.prefer_wait_max_seconds()


def requested(request: Request) -> int | None:
    """Seconds the client asked to wait (capped), or None: no `wait` preference, or one we ignore
    (RFC 7240: a preference that cannot be honoured is ignored, and Preference-Applied says so)."""
    cap = settings.prefer_wait_max_seconds()
    for preference in preferences(request):
        match = WAIT.match(preference)
        if match:
            asked = int(match.group(1)) if match.group(1) else cap
            return min(asked, cap)
    return None


def applied(request: Request, seconds: int | None = None, queued: bool = False) -> dict[str, str]:
    """The Preference-Applied header of what was honoured of what the client asked ({} when nothing)."""
    done = ["respond-async"] if queued and respond_async(request) else []
    if seconds is not None and requested(request) is not None:
        done.append(f"wait={seconds}")
    return {"preference-applied": ", ".join(done)} if done else {}
