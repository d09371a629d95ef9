"""`GET /v1/webhooks/default/secret`: the caller's key's webhook signing secret, `{"key": "whsec_..."}`
(Replicate's route and shape), to verify our events with (imagegen.jobs.webhooks)."""

from __future__ import annotations

from imagegen.api.events import Request, json_response
from imagegen.jobs import webhooks


def handle(request: Request) -> dict:
    return json_response(200, {"key": webhooks.secret_for(request.owner)}, {"cache-control": "no-store"})
