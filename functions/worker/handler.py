"""The work queues' consumer (SQS, not HTTP): runs queued jobs of the models that answer now."""

from imagegen.routes import worker


def handler(event: dict, context: object = None) -> dict:
    return worker.handle(event, context)
