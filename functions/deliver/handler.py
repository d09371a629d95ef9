"""The delivery queue's consumer (SQS, not HTTP): POSTs signed job events to callers' webhooks."""

from imagegen.routes import deliver


def handler(event: dict, context: object = None) -> dict:
    return deliver.handle(event, context)
