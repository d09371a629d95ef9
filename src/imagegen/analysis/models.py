"""The analysis models: ONNX files in the bucket, named by ANALYSIS_MODELS (Terraform `analysis_models`):
`{"classification": {"key": "models/x.onnx", "labels_key": "models/x.txt", <onnx.ModelSpec fields but
labels>}, "detection": {...}}`; each is loaded once per cold start.
"""

from __future__ import annotations

import logging
import time
from functools import cache

from imagegen import bucket, logs, settings
from imagegen.errors import ApiError, ConfigError

log = logging.getLogger("imagegen")

MAX_LABELS_BYTES = 1024 * 1024
# The share of the function's memory one request's decoded images may hold at once (the rest: the runtime,
# ONNX Runtime and the model, the request and the answer).
IMAGE_MEMORY_SHARE = 0.4


@cache
def model(task: str):
    """The task's model, read from the bucket and loaded into ONNX Runtime once per cold start."""
    from imagegen.analysis import onnx  # numpy, Pillow, onnxruntime: the analysis layer

    row = settings.analysis_models().get(task)
    if row is None:  # the route exists, the deployment has no model for it: not implemented here
        raise ApiError(501, "model_not_configured", f"no {task} model is configured on this deployment")
    started = time.perf_counter()
    # Terraform writes unset optional fields as null: they mean "the default".
    spec = {k: v for k, v in row.items() if k not in ("key", "labels_key") and v is not None}
    if row.get("labels_key"):
        spec["labels"] = read_labels(row["labels_key"])
    loaded = onnx.Model(onnx.ModelSpec.from_dict({**spec, "task": task}), bucket.read(row["key"]))
    seconds = time.perf_counter() - started
    logs.metric("ModelLoadTime", round(seconds * 1000, 1), "Milliseconds", task=task)
    log.info("%s model %s loaded in %.0f ms", task, row["key"], seconds * 1000)
    return loaded


def read_labels(key: str) -> list[str]:
    """A label file: one label per line (blank lines skipped), as torchvision and YOLO exports ship them."""
    data = bucket.read(key)
    if len(data) > MAX_LABELS_BYTES:
        raise ConfigError(f"label file {key} is over {MAX_LABELS_BYTES} bytes")
    return [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]


def budget():
    """A request's memory budget for decoding its images (onnx.MemoryBudget), from the function's memory."""
    from imagegen.analysis import onnx

    return onnx.MemoryBudget(int(settings.function_memory_mb() * 2**20 * IMAGE_MEMORY_SHARE))
