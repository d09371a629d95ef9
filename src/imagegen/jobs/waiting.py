"""Waiting for async jobs while the client holds the request (`Prefer: wait`, imagegen.api.prefer).

The wait polls the job records in the bucket (the webhook stays their only writer; Replicate is never
polled from here) and ends at the first of: every job finished, the seconds asked for, or shortly
before the Lambda's own deadline.
"""

from __future__ import annotations

import time

from imagegen.jobs import records

POLL_SECONDS = 0.25
# Time kept back before the Lambda deadline to write the answer.
DEADLINE_MARGIN_SECONDS = 2.0


def wait_for(job_ids: list[str], seconds: int, deadline: float | None) -> list[dict]:
    """The jobs as they are when all have finished or the time is up (in job_ids' order)."""
    until = time.monotonic() + seconds
    if deadline is not None:
        until = min(until, deadline - DEADLINE_MARGIN_SECONDS)
    found = {job_id: records.get(job_id) for job_id in job_ids}
    while True:
        open_ids = [job_id for job_id, job in found.items() if job["status"] not in records.TERMINAL]
        if not open_ids or time.monotonic() + POLL_SECONDS > until:
            return [found[job_id] for job_id in job_ids]
        time.sleep(POLL_SECONDS)
        for job_id in open_ids:
            found[job_id] = records.get(job_id)
