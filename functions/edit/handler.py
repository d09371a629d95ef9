"""POST /v1/images/edits and /v1/images/variations: Bedrock edits now (201), Replicate jobs (202)."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import edit


@api_handler
def handler(request: Request) -> dict:
    return edit.handle(request)
