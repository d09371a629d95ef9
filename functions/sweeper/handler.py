"""Scheduled (EventBridge), not HTTP: finish or time out the jobs whose webhook never came."""

from imagegen import logs, sweeper


def handler(event: dict, context: object = None) -> dict:
    logs.setup()
    return sweeper.sweep()
