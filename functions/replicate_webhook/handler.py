"""POST /v1/webhooks/replicate: verify Replicate's signature, store the outputs, finish the job."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import replicate_webhook


@api_handler
def handler(request: Request) -> dict:
    return replicate_webhook.handle(request)
