"""POST /v1/images/edits: one Replicate prediction per image, submitted with a webhook; 202 with the jobs."""

from imagegen import edits
from imagegen.http import Request, api_handler


@api_handler
def handler(request: Request) -> dict:
    return edits.submit(request, edits.parse(request))
