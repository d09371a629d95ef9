"""GET /v1/webhooks/default/secret: the caller's key's webhook signing secret."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import webhook_secret


@api_handler
def handler(request: Request) -> dict:
    return webhook_secret.handle(request)
