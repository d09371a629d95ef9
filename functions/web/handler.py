"""GET /, GET /playground and GET /openapi.json: the playground page and the API's contract (public)."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import web


@api_handler
def handler(request: Request) -> dict:
    return web.handle(request)
