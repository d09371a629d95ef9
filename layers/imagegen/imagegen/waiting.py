"""`Prefer: wait[=N]` (RFC 7240, as Replicate's own API): hold the answer until async jobs finish.

Only on request: a waiting Lambda is billed for every second it waits, which is why the default
answer to an async job is an immediate 202. The wait polls the job record in S3 (the webhook
stays its only writer; Replicate is never polled from here) and ends at the first of: every job
finished, N seconds, PREFER_WAIT_MAX_SECONDS (default 20, below API Gateway's 30 s limit), or
shortly before the Lambda's own deadline.
"""

from __future__ import annotations

import re
import time

from imagegen import config, jobs
from imagegen.http import Request

POLL_SECONDS = 0.25
# Time kept back before the Lambda deadline to write the answer.
DEADLINE_MARGIN_SECONDS = 2.0
WAIT = re.compile(r"^\s*wait\s*(?:=\s*\"?(\d{1,4})\"?)?\s*$", re.IGNORECASE)


def cap_seconds() -> int:
    return config.env_int("PREFER_WAIT_MAX_SECONDS", 20, 0, 29)


def requested(request: Request) -> int | None:
    """Seconds the client asked to wait (capped), or None: no `wait` preference, or one we ignore
    (RFC 7240: a preference that cannot be honoured is ignored, and Preference-Applied says so)."""
    for preference in re.split(r"[,;]", request.headers.get("prefer", "")):
        match = WAIT.match(preference)
        if match:
            asked = int(match.group(1)) if match.group(1) else cap_seconds()
            return min(asked, cap_seconds())
    return None


def wait_for(job_ids: list[str], seconds: int, deadline: float | None) -> list[dict]:
    """The jobs as they are when all have finished or the time is up (in job_ids' order)."""
    until = time.monotonic() + seconds
    if deadline is not None:
        until = min(until, deadline - DEADLINE_MARGIN_SECONDS)
    found = {job_id: jobs.get(job_id) for job_id in job_ids}
    while True:
        open_ids = [job_id for job_id, job in found.items() if job["status"] not in jobs.TERMINAL]
        if not open_ids or time.monotonic() + POLL_SECONDS > until:
            return [found[job_id] for job_id in job_ids]
        time.sleep(POLL_SECONDS)
        for job_id in open_ids:
            found[job_id] = jobs.get(job_id)


def applied(seconds: int) -> dict[str, str]:
    return {"preference-applied": f"wait={seconds}"}
