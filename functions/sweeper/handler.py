"""Scheduled (EventBridge), not HTTP: finish or time out the jobs whose webhook never came."""

from imagegen.routes import sweeper


def handler(event: dict, context: object = None) -> dict:
    return sweeper.handle()
