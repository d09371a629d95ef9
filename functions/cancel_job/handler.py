"""POST /v1/jobs/{id}/cancel: cancel the job's Replicate prediction and mark the job canceled."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import cancel_job


@api_handler
def handler(request: Request) -> dict:
    return cancel_job.handle(request)
