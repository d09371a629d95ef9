"""`POST /v1/jobs/{id}/cancel`: cancel the job's Replicate prediction, mark the job canceled (imagegen.jobs.cancel)."""

from __future__ import annotations

from imagegen.api import answers
from imagegen.api.events import Request, json_response
from imagegen.jobs import cancel, records


def handle(request: Request) -> dict:
    job_id = records.require_id(request.path_params.get("id", ""))
    return json_response(200, answers.job_view(cancel.cancel(job_id, request.owner)))
