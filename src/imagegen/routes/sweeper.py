"""Scheduled (EventBridge), not HTTP: finish or time out the jobs whose webhook never came (imagegen.jobs.sweeper)."""

from __future__ import annotations

from imagegen import logs
from imagegen.jobs import sweeper


def handle() -> dict:
    logs.setup()
    return sweeper.sweep()
