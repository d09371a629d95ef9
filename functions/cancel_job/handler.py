"""POST /v1/jobs/{id}/cancel: cancel the job's Replicate prediction and mark the job canceled."""

from imagegen import cancellation, jobs, storage
from imagegen.http import Request, api_handler, json_response


@api_handler
def handler(request: Request) -> dict:
    job_id = request.path_params.get("id", "")
    if not storage.is_job_id(job_id):
        raise jobs.JobNotFound(job_id)
    return json_response(200, jobs.public_view(cancellation.cancel(job_id)))
