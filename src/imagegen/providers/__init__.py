"""The model providers, each its wire format only (never the bucket, a job or a request):

- bedrock, sagemaker: synchronous, the images' bytes now (validate, then generate);
- replicate: asynchronous, a prediction that calls our webhook when it is done.

`validate` and `generate` pick the sync provider by the catalog row, so no caller compares names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagegen.catalog import Model
    from imagegen.orders import Params


def validate(row: Model, params: Params) -> None:
    """A 400 naming the field for anything the sync model cannot do, before anything is written."""
    if row.provider == "sagemaker":
        from imagegen.providers import sagemaker

        sagemaker.validate(params)
    else:
        from imagegen.providers import bedrock

        bedrock.validate(row, params)


def generate(row: Model, model: str, params: Params) -> list[bytes]:
    """The images' bytes from the sync model `row` (called as `model`), validated first."""
    if row.provider == "sagemaker":
        from imagegen.providers import sagemaker

        return sagemaker.generate(model, params)
    from imagegen.providers import bedrock

    return bedrock.generate(row, params)
