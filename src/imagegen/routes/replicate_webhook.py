"""`POST /v1/webhooks/replicate?job_id=...`: verify Replicate's call, then store the result.

1. The signature is checked before anything else (imagegen.api.signatures): any failure is a 401
   and nothing is read or written.
2. The job comes from our `job_id` in the URL; the prediction id in the body must be the one
   recorded on the job.
3. The prediction is applied to the job (imagegen.jobs.outputs, the sweeper's path too): a duplicate
   or late delivery finds the job finished and changes nothing; both get a 2xx.
"""

from __future__ import annotations

import logging

from imagegen import aws, providers, settings
from imagegen.api.events import Request, json_response, parse_json
from imagegen.api.signatures import verify_signature
from imagegen.errors import ApiError, JobNotFound, bad_request
from imagegen.jobs import outputs, records

log = logging.getLogger("imagegen")


def load_job(request: Request, prediction: dict) -> dict:
    job_id = request.query.get("job_id", "")
    try:
        job = records.get(records.require_id(job_id))
    except JobNotFound:
        if not job_id or len(job_id) > 64 or not job_id.isalnum():
            raise bad_request("unknown_job", "the webhook URL carries no valid job_id") from None
        raise bad_request("unknown_job", f"no job {job_id}") from None
    prediction_id = prediction.get("id")
    if not job.get("prediction_id") and job["status"] not in records.TERMINAL:
        # The submit has not recorded the id yet: Replicate retries a non-2xx webhook.
        raise ApiError(409, "job_not_ready", "the job has no prediction id yet; deliver again")
    if not isinstance(prediction_id, str) or prediction_id != job.get("prediction_id"):
        raise bad_request("prediction_mismatch", "the prediction id does not belong to this job")
    return job


def handle(request: Request) -> dict:
    verify_signature(request.headers, request.body, aws.secret(settings.webhook_secret_parameter()))
    body = parse_json(request.body, "the webhook body")
    if not isinstance(body, dict):
        raise bad_request("invalid_json", "the webhook body must be a prediction object")
    job = load_job(request, body)
    if job["status"] in records.TERMINAL:
        log.info("job %s: already %s, webhook ignored", job["id"], job["status"])
        return json_response(200, {"id": job["id"], "status": job["status"], "duplicate": True})
    job = outputs.apply_prediction(job, providers.named("replicate").as_prediction(body), request.deadline)
    return json_response(200, {"id": job["id"], "status": job["status"]})
