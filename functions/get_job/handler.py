"""GET /v1/jobs/{id}: a job's status, and presigned URLs for its images."""

from imagegen import jobs
from imagegen.http import Request, api_handler, json_response


@api_handler
def handler(request: Request) -> dict:
    job_id = jobs.require_id(request.path_params.get("id", ""))
    return json_response(200, jobs.public_view(jobs.get_for(job_id, request.owner)))
