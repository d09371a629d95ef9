"""POST /v1/images/generations (and GET ?prompt=): text-to-image on Bedrock, SageMaker or Replicate."""

from imagegen import generation
from imagegen.http import Request, api_handler

generation.check_configuration()  # cold start: a bad GENERATE_MODELS is logged once, clearly


@api_handler
def handler(request: Request) -> dict:
    return generation.generate(request)
