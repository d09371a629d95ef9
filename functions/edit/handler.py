"""POST /v1/images/edits and /v1/images/variations: Bedrock edits now (201), Replicate jobs (202)."""

from imagegen import edits
from imagegen.http import Request, api_handler


@api_handler
def handler(request: Request) -> dict:
    return edits.handle(request)
