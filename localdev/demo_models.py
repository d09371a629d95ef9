"""Tiny real ONNX models for make serve and the tests: the analysis routes without a trained model.

Built with the `onnx` package's helper API (a dev dependency; the Lambda layer ships only
onnxruntime). Both look at an image's mean colour, so what they answer is predictable:

- colour classifier: 64x64 input, logits = the mean of each channel (0..1), labels red/green/blue;
  a red picture is "red" with softmax(1, 0, 0) = 0.576.
- colour detector: 128x128 letterboxed input, a YOLO-style head with two candidates: the centre
  half of the input (cx = cy = 64, w = h = 64) scored by the mean colour, and a near-duplicate
  (cx 68, cy 66) at half that score, which non-max suppression removes.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LABELS = ["red", "green", "blue"]
CLASSIFIER_SPEC = {"input_size": [64, 64], "resize": "stretch"}
DETECTOR_SPEC = {"input_size": [128, 128], "resize": "letterbox", "output": "yolo"}
DETECTOR_BOXES = [[64, 64, 64, 64], [68, 66, 64, 64]]  # cx, cy, w, h in input pixels


def serialise(graph) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def colour_classifier() -> bytes:
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),  # [1, 3, 1, 1]
        helper.make_node("Flatten", ["pooled"], ["logits"], axis=1),  # [1, 3]
    ]
    graph = helper.make_graph(
        nodes,
        "colour_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
    )
    return serialise(graph)


def colour_detector() -> bytes:
    boxes = np.array(DETECTOR_BOXES, dtype=np.float32).reshape(2, 1, 4)
    nodes = [
        helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
        helper.make_node("Reshape", ["pooled", "row_shape"], ["scores"]),  # [1, 1, 3]
        helper.make_node("Mul", ["scores", "half"], ["weaker"]),
        helper.make_node("Concat", ["box0", "scores"], ["row0"], axis=2),  # [1, 1, 7]
        helper.make_node("Concat", ["box1", "weaker"], ["row1"], axis=2),
        helper.make_node("Concat", ["row0", "row1"], ["rows"], axis=1),  # [1, 2, 7]
    ]
    graph = helper.make_graph(
        nodes,
        "colour_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 128, 128])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, [1, 2, 7])],
        initializer=[
            numpy_helper.from_array(np.array([1, 1, 3], dtype=np.int64), "row_shape"),
            numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
            numpy_helper.from_array(boxes[0].reshape(1, 1, 4), "box0"),
            numpy_helper.from_array(boxes[1].reshape(1, 1, 4), "box1"),
        ],
    )
    return serialise(graph)


def install(s3, bucket: str, prefix: str = "models/demo") -> str:
    """Put both models and their label file in the bucket; the ANALYSIS_MODELS value that names them."""
    labels_key = f"{prefix}/colours.txt"
    s3.put_object(Bucket=bucket, Key=labels_key, Body="\n".join(LABELS).encode() + b"\n")
    table = {}
    for task, name, build, spec in (
        ("classification", "colour-classifier", colour_classifier, CLASSIFIER_SPEC),
        ("detection", "colour-detector", colour_detector, DETECTOR_SPEC),
    ):
        key = f"{prefix}/{name}.onnx"
        s3.put_object(Bucket=bucket, Key=key, Body=build())
        table[task] = {"key": key, "labels_key": labels_key, **spec}
    return json.dumps(table)


def start_demo_models(host: str = "127.0.0.1", port: int = 0) -> list[str]:
    """make serve: without ANALYSIS_MODELS, install the demo models in the local bucket and use them."""
    import os

    import boto3

    del host, port
    if os.environ.get("ANALYSIS_MODELS"):
        return ["analysis    models from ANALYSIS_MODELS"]
    os.environ["ANALYSIS_MODELS"] = install(boto3.client("s3"), os.environ["BUCKET_NAME"])
    return ["analysis    DEMO models (mean colour: red/green/blue) for /v1/images/classifications and /detections"]
