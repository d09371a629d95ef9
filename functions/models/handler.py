"""GET /v1/models and GET /v1/models/{id}: the deployment's models in OpenAI's list format."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import models


@api_handler
def handler(request: Request) -> dict:
    return models.handle(request)
