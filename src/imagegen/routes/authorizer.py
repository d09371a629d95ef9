"""The HTTP API's Lambda authorizer (payload 2.0, simple responses): `Authorization: Bearer <api key>`.

API Gateway answers 401 itself when the header is missing and 403 when this says no; an allowed
key's id and name reach the route's function as requestContext.authorizer.lambda.
"""

from __future__ import annotations

import json
import logging

from imagegen import apikeys, logs

log = logging.getLogger("imagegen")


def handle(event: dict, request_id: str) -> dict:
    started = logs.begin(request_id, event.get("routeKey", ""))
    try:  # an S3 failure raises: API Gateway answers 500 and caches nothing (never a wrong "yes")
        verdict = apikeys.verify((event.get("headers") or {}).get("authorization"))
    except Exception:
        log.exception("api key check failed")
        logs.end(started, 500, "internal_error")
        raise
    if not verdict.allowed:
        log.info("api key refused: %s (key id %s)", verdict.reason, verdict.key_id or "-")
        logs.metric("AuthRejected", 1, reason=verdict.reason)
    logs.end(started, 200, verdict.reason)
    if not verdict.allowed:
        return {"isAuthorized": False}
    # the key's limits ride along (a context holds strings and numbers): checked where the model is called
    context = {"key_id": verdict.key_id, "key_name": verdict.name or "", "limits": json.dumps(verdict.limits or {})}
    return {"isAuthorized": True, "context": context}
