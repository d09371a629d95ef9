"""GET /v1/jobs/{id}: a job's status, and presigned URLs for its images."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import get_job


@api_handler
def handler(request: Request) -> dict:
    return get_job.handle(request)
