"""GET /v1/models and GET /v1/models/{id}: the deployment's models in OpenAI's list format."""

from imagegen import listing
from imagegen.http import Request, api_handler, json_response


@api_handler
def handler(request: Request) -> dict:
    name = request.path_params.get("id")
    return json_response(200, listing.one(name) if name else listing.list_models())
