"""The model providers, each its wire format only (never the bucket, a job or a request), and the
registry: the only place a provider is named. Each implements one half of imagegen.providers.contract:

- bedrock, sagemaker: answer now, the images' bytes within the request (validate, calls);
- replicate: answers later, a prediction that calls our webhook when it is done (submit, read, cancel).

Which half a catalog row's provider implements is the catalog's (`Model.answers_later`), so no caller
compares provider names; adding a provider is its module, a line here, its catalog rows and its fake.
"""

from __future__ import annotations

from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING

from imagegen.errors import ApiError

if TYPE_CHECKING:
    from imagegen.catalog import Model
    from imagegen.orders import Params
    from imagegen.providers.contract import Call

# provider name (the catalog's `provider`) -> its module
REGISTRY = {
    "bedrock": "imagegen.providers.bedrock",
    "sagemaker": "imagegen.providers.sagemaker",
    "replicate": "imagegen.providers.replicate",
}


def named(provider: str) -> ModuleType:
    """The module of `provider` (imported on first use: a function pays only for the providers it calls);
    a 503 when this build has not got it (the replicate package lives in the vendor layer)."""
    try:
        return import_module(REGISTRY[provider])
    except KeyError:
        raise ApiError(503, "provider_unavailable", f"provider {provider!r} is not known to this build") from None
    except ImportError:
        raise ApiError(503, "provider_unavailable", f"provider: {provider} is not available in this build") from None


def of(row: Model) -> ModuleType:
    return named(row.provider)


def ref(row: Model) -> str:
    """What the provider is called with for `row` (the row's ref; the SageMaker row: the endpoint's name)."""
    module = of(row)
    return module.ref(row) if hasattr(module, "ref") else row.ref


def validate(row: Model, params: Params) -> None:
    """A 400 naming the field for anything the model cannot do, before anything is written."""
    of(row).validate(row, params)


def calls(row: Model, model: str, params: Params) -> list[Call]:
    """The model calls that make `params` (validated first), not yet made: each one call to the model
    `row` answers now (called as `model`) answering its images' bytes. A request for more images than the
    model makes per call (the row's limits.n) is several calls, each with its own seed; what the calls
    share (an edit's source, encoded for the wire) is prepared once. jobs.run makes them, a few at once."""
    return of(row).calls(row, model, params)
