"""The model providers, each its wire format only (never the bucket, a job or a request):

- bedrock, sagemaker: synchronous, the images' bytes now (validate, then generate);
- replicate: asynchronous, a prediction that calls our webhook when it is done.

`validate` and `calls` pick the sync provider by the catalog row, so no caller compares names.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
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


def calls(row: Model, model: str, params: Params) -> list[Callable[[], list[bytes]]]:
    """The model calls that make `params` (validated first), not yet made: each one call to the sync
    model `row` (called as `model`) answering its images' bytes. A request for more images than the
    model makes per call (the row's limits.n) is several calls, each with its own seed; what the calls
    share (an edit's source, encoded for the wire) is prepared once. jobs.run makes them, a few at once."""
    if row.provider == "sagemaker":
        from imagegen.providers import sagemaker

        return [partial(sagemaker.generate, model, params)]
    from imagegen.providers import bedrock

    return bedrock.calls(row, params)
