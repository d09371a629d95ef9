"""POST /v1/images/generations (and GET ?prompt=): text-to-image on Bedrock, SageMaker or Replicate."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import generate

generate.check_configuration()  # cold start: a bad GENERATE_MODELS is logged once, clearly


@api_handler
def handler(request: Request) -> dict:
    return generate.handle(request)
