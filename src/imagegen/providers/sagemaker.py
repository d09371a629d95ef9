"""A SageMaker Stable Diffusion endpoint (the JumpStart text-to-image container's format).

Request JSON: prompt, width, height, num_images_per_prompt, num_inference_steps,
guidance_scale, seed, negative_prompt; `Accept: application/json;jpeg` makes the container
answer `{"generated_images": [<base64 JPEG>...], "prompt": ...}`. The endpoint name is
configuration (SAGEMAKER_ENDPOINT_NAME); without it the provider is off. Its limits are the
catalog's `sagemaker` row.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from imagegen import catalog, settings
from imagegen.errors import ProviderError, check_length, check_output_format, check_range, invalid
from imagegen.orders import Params
from imagegen.providers import runtime

if TYPE_CHECKING:
    from imagegen.catalog import Model

ANSWERS = "now"  # imagegen.providers.contract
NAME = "SageMaker Stable Diffusion"
ACCEPT = "application/json;jpeg"


def endpoint_name() -> str:
    """The configured endpoint, or '' when the provider is off."""
    return settings.sagemaker_endpoint_name()


def ref(row: Model) -> str:
    return endpoint_name()


def validate(row: Model, params: Params) -> None:
    limit = catalog.get("sagemaker").limit
    check_length("prompt", params.prompt, limit("prompt"), NAME)
    check_length("negative_prompt", params.negative_prompt, limit("prompt"), NAME)
    low, high = limit("side")
    for field, value in (("width", params.width), ("height", params.height)):
        if value is not None and (not low <= value <= high or value % limit("multiple_of")):
            raise invalid(field, f"{value} must be {low}..{high} and a multiple of {limit('multiple_of')} for {NAME}")
    check_range("n", params.n, 1, limit("n"), NAME)
    check_range("steps", params.steps, *limit("steps"), NAME)
    check_range("cfg_scale", params.cfg_scale, *limit("cfg_scale"), NAME)
    check_range("seed", params.seed, *limit("seed"), NAME)
    check_output_format(params.output_format, ("jpeg",), NAME)
    if params.quality not in (None, "standard"):
        raise invalid("quality", f"{params.quality[:40]!r} cannot be honoured by {NAME}; leave it out")


def body(params: Params) -> dict:
    payload = {
        "prompt": params.prompt,
        "width": params.width or 512,
        "height": params.height or 512,
        "num_images_per_prompt": params.n,
        "num_inference_steps": params.steps or 50,
        "guidance_scale": params.cfg_scale if params.cfg_scale is not None else 7.5,
    }
    if params.seed is not None:
        payload["seed"] = params.seed
    if params.negative_prompt:
        payload["negative_prompt"] = params.negative_prompt
    return payload


def calls(row: Model, endpoint: str, params: Params) -> list[Callable[[], list[bytes]]]:
    """One call: the endpoint makes every image of the request at once (num_images_per_prompt)."""
    return [partial(generate, endpoint, params)]


def generate(endpoint: str, params: Params) -> list[bytes]:
    """Invoke the endpoint once and return the images' bytes (validate first)."""
    request = json.dumps(body(params))
    response = runtime.call(
        "sagemaker",
        lambda: runtime.runtime_client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, Body=request, ContentType="application/json", Accept=ACCEPT
        ),
    )
    try:
        payload = json.loads(response["Body"].read())
        images = payload["generated_images"]
        if not isinstance(images, list) or not images:
            raise ValueError("no images")
        return [base64.b64decode(image, validate=True) for image in images]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ProviderError("the SageMaker endpoint returned no usable generated_images") from None
