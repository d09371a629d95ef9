"""`GET /v1/jobs/{id}`: a job's status, and presigned URLs for its images (another key's job is a 404)."""

from __future__ import annotations

from imagegen.api import answers
from imagegen.api.events import Request, json_response
from imagegen.jobs import records


def handle(request: Request) -> dict:
    job_id = records.require_id(request.path_params.get("id", ""))
    return json_response(200, answers.job_view(records.get_for(job_id, request.owner)))
