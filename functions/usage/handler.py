"""GET /v1/usage: the caller's own API key's jobs, images and cost per day."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import usage


@api_handler
def handler(request: Request) -> dict:
    return usage.handle(request)
