"""POST /v1/images/classifications and /v1/images/detections: ONNX Runtime inference in this Lambda."""

from imagegen.api.events import Request, api_handler
from imagegen.routes import analyze


@api_handler
def handler(request: Request) -> dict:
    return analyze.handle(request)
