"""POST /v1/images/classifications and /v1/images/detections: ONNX Runtime inference in this Lambda."""

from imagegen import analysis
from imagegen.http import Request, api_handler


@api_handler
def handler(request: Request) -> dict:
    return analysis.handle(request)
