"""POST /v1/webhooks/replicate: verify Replicate's signature, store the outputs, finish the job."""

from imagegen import webhooks
from imagegen.http import Request, api_handler


@api_handler
def handler(request: Request) -> dict:
    return webhooks.handle(request)
