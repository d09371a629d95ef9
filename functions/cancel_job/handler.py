"""POST /v1/jobs/{id}/cancel: cancel the job's Replicate prediction and mark the job canceled."""

from imagegen import cancellation, jobs
from imagegen.http import Request, api_handler, json_response


@api_handler
def handler(request: Request) -> dict:
    job_id = jobs.require_id(request.path_params.get("id", ""))
    return json_response(200, jobs.public_view(cancellation.cancel(job_id, request.owner)))
