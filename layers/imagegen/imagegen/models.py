"""Short model names a request may use in place of a provider's model id.

Built in: the names people know the models by (`sd3.5-large`, `flux-schnell`, ...); MODEL_ALIASES
(JSON `{"alias": "model id"}`, Terraform `model_aliases`) adds to or overrides them. An alias
only names a model: the model must still be enabled for the route, or the request is a 400.
"""

from __future__ import annotations

import json
from functools import cache

from imagegen.config import ConfigError, env

BUILT_IN = {
    "sd3.5-large": "us.stability.sd3-5-large-v1:0",
    "stable-image-inpaint": "us.stability.stable-image-inpaint-v1:0",
    "stable-image-ultra": "us.stability.stable-image-ultra-v1:1",
    "flux-schnell": "black-forest-labs/flux-schnell",
    "flux-dev": "black-forest-labs/flux-dev",
    "flux-kontext-pro": "black-forest-labs/flux-kontext-pro",
    "flux-fill-pro": "black-forest-labs/flux-fill-pro",
    "cartoonify": "catacolabs/cartoonify",
}


@cache
def aliases() -> dict[str, str]:
    try:
        configured = json.loads(env("MODEL_ALIASES", "{}"))
    except ValueError:
        raise ConfigError("MODEL_ALIASES is not valid JSON") from None
    if not isinstance(configured, dict) or not all(isinstance(v, str) and v for v in configured.values()):
        raise ConfigError('MODEL_ALIASES must be a JSON object {"alias": "model id"}')
    return {**BUILT_IN, **configured}


def resolve(name: object) -> object:
    """The model id an alias stands for; anything else unchanged (checked by the caller)."""
    return aliases().get(name, name) if isinstance(name, str) else name
