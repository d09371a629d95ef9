"""HTTP API Lambda authorizer: `Authorization: Bearer <api key>` (imagegen.routes.authorizer)."""

from imagegen.routes import authorizer


def handler(event: dict, context: object = None) -> dict:
    return authorizer.handle(event, getattr(context, "aws_request_id", ""))
