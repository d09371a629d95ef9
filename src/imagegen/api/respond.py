"""How an image request (a generation, an edit, a variation) is answered, the same for every route:

- a model that answers now: 201 with the images (jobs.run.now); with `Prefer: respond-async`, 202 with
  a job the worker runs from the model's queue (jobs.queued);
- a model that answers later: its jobs (jobs.later), waited for as api.prefer says: 201 with the
  images if they all finished in time, else 202 with the jobs (OpenAI's `data` empty until then). A
  job the provider refused is in the list `failed` with its error; if every one failed the answer is
  that error with the jobs.
"""

from __future__ import annotations

import time
from typing import Any

from imagegen import settings
from imagegen.api import answers, prefer
from imagegen.api.events import Request, json_response
from imagegen.errors import ApiError
from imagegen.jobs import later as predictions
from imagegen.jobs import queued, records, run, waiting
from imagegen.orders import Order, Params


def images(request: Request, order: Order, requests: list[Params], **extra: Any) -> dict:
    if order.row.answers_later:
        return later(request, order, **extra)
    if prefer.respond_async(request):
        job = queued.queued(order, requests, **extra)
        return answers.accepted(job, prefer.applied(request, queued=True))
    job, produced = run.now(order, requests, **extra)
    return answers.created(job, order.response_format, produced, asked=order.asked)


def later(request: Request, order: Order, **extra: Any) -> dict:
    started = predictions.later(order, request.webhook_url(), **extra)
    failures = [job["_failure"] for job in started if "_failure" in job]
    wait = prefer.wait_for_later(request)
    headers = prefer.applied(request, wait, queued=True)
    if wait and not failures:
        started = waiting.wait_for([job["id"] for job in started], wait, request.deadline)
    if not order.sources:  # a generation: one job, answered as itself
        job = started[0]
        if job["status"] == "succeeded":
            return answers.created(job, order.response_format, headers=headers, asked=order.asked)
        if job["status"] in records.TERMINAL:
            raise ApiError(502, "generation_failed", f"the job {job['status']}: {job.get('error') or 'no detail'}")
        return answers.accepted(job, headers)
    if not failures and all(job["status"] == "succeeded" for job in started):
        stored = [image for job in started for image in job.get("images", [])]
        body: dict[str, Any] = {"jobs": [answers.job_summary(job) for job in started]}
        return json_response(201, body | answers.image_fields(stored, order.response_format), headers)
    body = {"jobs": [answers.job_summary(job) for job in started], "created": int(time.time()), "data": []}
    if settings.replicate_offline():
        body["offline"] = True
    if failures and len(failures) == len(started):
        first = failures[0]
        body["error"] = {"code": first.code, "message": first.message}
        return json_response(first.status, body, {**first.headers, **headers})
    return json_response(202, body, headers)
