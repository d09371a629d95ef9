"""Image classification and object detection with ONNX Runtime: the inference core of the analysis routes.

Only the analysis Lambda imports this module: its layer carries numpy, Pillow and onnxruntime.
One model = one ModelSpec (a JSON row Terraform writes into an environment variable) + the .onnx bytes.
Detection boxes always come back in pixels of the image as displayed (after EXIF orientation).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from imagegen.errors import ApiError, ConfigError, param_of

# Past this many pixels an image is refused (a 413) from its header, since a small compressed file can
# decode to gigabytes of RAM. 50 MP is well above any camera photo a client would send. Checked here, not
# set as Pillow's process-wide Image.MAX_IMAGE_PIXELS: that would change the limit of every other module
# that opens images in the process (make serve runs every function in one).
MAX_IMAGE_PIXELS = 50_000_000

# Decoders we accept (the formats the rest of the API accepts): fewer parsers, less attack surface.
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# Exceptions Pillow's decoders raise on corrupt or truncated input (see Pillow's fuzzing tests).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, struct.error)

LETTERBOX_GREY = 114  # the padding colour YOLO models are trained with
# Candidates kept for NMS, best first: bounds its quadratic cost when min_score is low.
MAX_CANDIDATES = 1000

TASKS = ("classification", "detection")
LAYOUTS = ("NCHW", "NHWC")
RESIZES = ("stretch", "letterbox")
OUTPUTS = ("yolo", "boxes_scores")


@dataclass(frozen=True)
class ModelSpec:
    task: str
    input_size: tuple[int, int]  # width, height
    labels: tuple[str, ...]
    layout: str = "NCHW"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: str = "stretch"
    output: str | None = None  # detection only
    softmax: bool = True  # classification only

    @classmethod
    def from_dict(cls, d: Any) -> ModelSpec:
        """Validate one configuration row; any fault is a ConfigError naming the field."""
        if not isinstance(d, dict):
            raise ConfigError(f"model spec must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"model spec: unknown field(s) {', '.join(map(str, unknown))}")
        task = _choice(d, "task", TASKS, None)
        size = d.get("input_size")
        if not (isinstance(size, list | tuple) and len(size) == 2 and all(_is_int(v, 1, 4096) for v in size)):
            raise ConfigError(f"model spec input_size must be [width, height], whole numbers 1..4096, got {size!r}")
        labels = d.get("labels")
        if not (isinstance(labels, list | tuple) and labels and all(isinstance(v, str) and v for v in labels)):
            raise ConfigError("model spec labels must be a non-empty list of non-empty strings")
        mean = _triple(d, "mean", (0.0, 0.0, 0.0))
        std = _triple(d, "std", (1.0, 1.0, 1.0))
        if any(v <= 0 for v in std):
            raise ConfigError(f"model spec std must be positive, got {list(std)}")
        if task == "detection":
            output = _choice(d, "output", OUTPUTS, None)
            if "softmax" in d:
                raise ConfigError("model spec softmax applies to classification only")
        else:
            output = None
            if "output" in d:
                raise ConfigError("model spec output applies to detection only")
        softmax = d.get("softmax", True)
        if not isinstance(softmax, bool):
            raise ConfigError(f"model spec softmax must be true or false, got {softmax!r}")
        return cls(
            task=task,
            input_size=(int(size[0]), int(size[1])),
            labels=tuple(labels),
            layout=_choice(d, "layout", LAYOUTS, "NCHW"),
            mean=mean,
            std=std,
            resize=_choice(d, "resize", RESIZES, "stretch"),
            output=output,
            softmax=softmax,
        )


def _is_int(v: Any, low: int, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _choice(d: dict, name: str, allowed: tuple[str, ...], default: str | None) -> str:
    value = d.get(name, default)
    if value not in allowed:
        raise ConfigError(f"model spec {name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _triple(d: dict, name: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
    value = d.get(name, default)
    ok = isinstance(value, list | tuple) and len(value) == 3
    if not (ok and all(isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in value)):
        raise ConfigError(f"model spec {name} must be 3 finite numbers (R, G, B), got {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


class MemoryBudget:
    """The bytes of decoded pixels one request may hold at once: an image waits until there is room, and
    one that could never fit is a 413 naming it. Per request, not per image: eight 50 MP images decode
    one or two at a time instead of all at once."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.peak = 0  # the most held at once
        self._room = threading.Condition()

    @contextlib.contextmanager
    def hold(self, cost: int, field: str) -> Iterator[None]:
        if cost > self.limit:
            message = (
                f"{field}: decoding it needs {cost / 2**20:.0f} MB, more than this function gives one request's "
                f"images ({self.limit / 2**20:.0f} MB); send a smaller image"
            )
            raise ApiError(413, "image_too_large", message, field)
        with self._room:
            self._room.wait_for(lambda: self.used + cost <= self.limit)
            self.used += cost
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            _give_back()  # the decoded pixels are freed by now: hand the pages back before the next decode
            with self._room:
                self.used -= cost
                self._room.notify_all()


def _give_back() -> None:
    """Return freed heap memory to the OS (glibc's malloc_trim): Pillow's blocks are freed into the decoding
    thread's own malloc arena, where the next image's thread cannot reuse them, so without it the process
    keeps every arena's high-water mark."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6")
except OSError:  # not glibc (macOS, musl): nothing to trim
    _LIBC = None

# Pillow can reduce these modes in place; any other (palette, 1-bit, CMYK, 16-bit) is converted first.
_REDUCIBLE = frozenset({"L", "LA", "RGB", "RGBA", "I", "F"})


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow keeps per pixel in memory: one byte for 1, L and P; two for 16-bit; four for the rest
    (RGB is stored as four bytes a pixel)."""
    return 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4


# EXIF orientations that turn the image a quarter: as displayed, width and height swap.
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


@dataclass(frozen=True)
class Decoded:
    """An image as displayed (EXIF applied) at a size no smaller than the model needs, and its full size."""

    image: Image.Image
    width: int  # the original, as displayed
    height: int


def load_image(
    data: bytes, size: tuple[int, int] | None = None, budget: MemoryBudget | None = None, field: str = "image"
) -> Decoded:
    """Decode to RGB as a viewer displays it (EXIF applied), shrunk before anything is copied to no less
    than twice `size` (the model's input) on each side: a JPEG decodes at 1/2 to 1/8 scale (draft), other
    formats are reduced right after decoding. The decode waits for room in `budget`. A 400 if it is not an
    image, a 413 if it is too large to decode at all."""
    try:
        with warnings.catch_warnings():
            # Pillow's own limit (its default, never changed here) warns before it refuses: an error too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                width, height = image.size  # the original's, from the header
                if width * height > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(f"{width}x{height}")
                if size:
                    image.draft("RGB", (2 * size[0], 2 * size[1]))  # JPEG: decode smaller (others: no-op)
                pixels = image.width * image.height
                cost = pixels * _bytes_per_pixel(image.mode) + (0 if image.mode in _REDUCIBLE else pixels * 4)
                with budget.hold(cost, field) if budget else contextlib.nullcontext():
                    shrunk = None
                    try:
                        image.load()
                        turned = image.getexif().get(0x0112) in _QUARTER_TURNS
                        shrunk = image if image.mode in _REDUCIBLE else image.convert("RGBA")
                        if size:
                            factor = min(shrunk.width // (2 * size[0]), shrunk.height // (2 * size[1]))
                            if factor > 1:
                                shrunk = shrunk.reduce(factor)
                        # a copy either way (exif_transpose), small by now, so it outlives the file
                        result = ImageOps.exif_transpose(shrunk).convert("RGB")
                    finally:
                        del shrunk
                        image.close()  # the full-size pixels go now, inside the budget, not after it
            return Decoded(result, *((height, width) if turned else (width, height)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ApiError(413, "image_too_large", f"{field}: the image is over {MAX_IMAGE_PIXELS} pixels", field) from None
    except _DECODE_ERRORS:
        raise ApiError(
            400, "not_an_image", "the image could not be decoded; send PNG, JPEG, WebP or GIF", param_of(field)
        ) from None


@dataclass(frozen=True)
class Transform:
    """How an image of `width` x `height` became the model input: input = original * scale + pad."""

    width: int
    height: int
    scale_x: float
    scale_y: float
    pad_x: int = 0
    pad_y: int = 0

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes x1,y1,x2,y2 in model-input pixels -> original-image pixels, clipped to the image."""
        out = np.empty_like(boxes, dtype=np.float64)
        out[:, [0, 2]] = (boxes[:, [0, 2]] - self.pad_x) / self.scale_x
        out[:, [1, 3]] = (boxes[:, [1, 3]] - self.pad_y) / self.scale_y
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out


def preprocess(decoded: Decoded | Image.Image, spec: ModelSpec) -> tuple[np.ndarray, Transform]:
    """The model's input tensor (float32, batch of 1) and the Transform that maps its pixels back to the
    original image (a Decoded image may have been shrunk; its width and height are the original's)."""
    if isinstance(decoded, Image.Image):
        decoded = Decoded(decoded, *decoded.size)
    image = decoded.image
    in_w, in_h = spec.input_size
    w, h = image.size
    if spec.resize == "letterbox":
        scale = min(in_w / w, in_h / h)
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
        canvas = Image.new("RGB", (in_w, in_h), (LETTERBOX_GREY,) * 3)
        canvas.paste(image.resize((new_w, new_h), Image.Resampling.BILINEAR), (pad_x, pad_y))
        image = canvas
    else:
        new_w, new_h, pad_x, pad_y = in_w, in_h, 0, 0
        image = image.resize((in_w, in_h), Image.Resampling.BILINEAR)
    # The actual resized size, not the requested scale: rounding then does not shift mapped-back boxes.
    # Input pixels map to the original (not the shrunk image): shrunk -> input is new/w, original -> shrunk w/W.
    transform = Transform(decoded.width, decoded.height, new_w / decoded.width, new_h / decoded.height, pad_x, pad_y)
    pixels = np.asarray(image, dtype=np.float32) / 255.0  # H, W, C
    pixels = (pixels - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    if spec.layout == "NCHW":
        pixels = pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels[None], dtype=np.float32), transform


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))  # shifted so large logits do not overflow
    return e / e.sum(axis=axis, keepdims=True)


def top_k(scores: np.ndarray, labels: tuple[str, ...] | list[str], k: int) -> list[dict[str, Any]]:
    """The k best labels, best first; equal scores keep label order."""
    scores = np.asarray(scores).reshape(-1)
    order = np.argsort(-scores, kind="stable")[: max(k, 0)]
    return [{"label": labels[i], "score": float(scores[i])} for i in order]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one x1,y1,x2,y2 box with each of `boxes`."""
    iw = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(0)
    ih = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(0)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, classes: np.ndarray | None = None) -> list[int]:
    """Greedy non-maximum suppression: indices kept, best score first. A box is dropped when its IoU with a
    better kept box is over `iou`; with `classes`, only boxes of the same class suppress each other."""
    boxes, scores = np.asarray(boxes, dtype=np.float64), np.asarray(scores)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        suppressed = box_iou(boxes[best], boxes[rest]) > iou
        if classes is not None:
            suppressed &= classes[rest] == classes[best]
        order = rest[~suppressed]
    return keep


def _yolo_rows(output: np.ndarray, num_features: int) -> np.ndarray:
    """[1, N, 4+C] or [1, 4+C, N] (YOLOv8 exports [1, 84, 8400]) -> [N, 4+C]. The class count decides rather
    than "transpose when dim1 < dim2", which misreads either layout when N < 4+C; when N == 4+C both agree."""
    if output.ndim != 3 or output.shape[0] != 1 or num_features not in output.shape[1:]:
        raise ConfigError(f"yolo output must be [1, N, {num_features}] or [1, {num_features}, N], got {output.shape}")
    rows = output[0]
    return rows if rows.shape[1] == num_features else rows.T


def decode_detections(
    outputs: list[np.ndarray], spec: ModelSpec, transform: Transform, min_score: float, iou: float
) -> list[dict[str, Any]]:
    """Model outputs -> detections in original-image pixels, best score first."""
    num_classes = len(spec.labels)
    in_w, in_h = spec.input_size
    if spec.output == "yolo":
        rows = _yolo_rows(np.asarray(outputs[0]), 4 + num_classes)
        cx, cy, bw, bh = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        class_scores = rows[:, 4:]
    else:
        if len(outputs) < 2:
            raise ConfigError(f"boxes_scores models need 2 outputs (boxes, scores), this one has {len(outputs)}")
        raw_boxes, class_scores = np.asarray(outputs[0]), np.asarray(outputs[1])
        n = raw_boxes.shape[1] if raw_boxes.ndim == 3 else -1
        if raw_boxes.shape != (1, n, 4) or class_scores.shape != (1, n, num_classes):
            raise ConfigError(
                f"boxes_scores outputs must be [1, N, 4] and [1, N, {num_classes}], "
                f"got {raw_boxes.shape} and {class_scores.shape}"
            )
        boxes = raw_boxes[0] * np.array([in_w, in_h, in_w, in_h], dtype=np.float64)  # normalised -> input pixels
        class_scores = class_scores[0]
    classes = class_scores.argmax(axis=1)
    scores = class_scores.max(axis=1)
    candidates = np.flatnonzero(scores >= min_score)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")][:MAX_CANDIDATES]
    boxes, scores, classes = boxes[candidates], scores[candidates], classes[candidates]
    kept = nms(boxes, scores, iou, classes)
    mapped = transform.to_original(boxes[kept])
    detections = []
    for (x1, y1, x2, y2), score, cls in zip(mapped, scores[kept], classes[kept], strict=True):
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue  # entirely outside the image (in the letterbox padding)
        detections.append(
            {
                "label": spec.labels[cls],
                "score": float(score),
                "x": round(float(x1), 1),
                "y": round(float(y1), 1),
                "width": round(float(x2 - x1), 1),
                "height": round(float(y2 - y1), 1),
            }
        )
    return detections  # nms returns best first


class Model:
    """One ONNX model loaded into an InferenceSession (once per cold start), plus its spec."""

    def __init__(self, spec: ModelSpec, onnx_bytes: bytes):
        import onnxruntime as ort  # heavy: imported when a model is loaded, not when this module is

        self.spec = spec
        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1  # Lambda's vCPUs scale with its memory
        try:
            self.session = ort.InferenceSession(onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own (Fail, InvalidGraph, ...) for a bad model file
            raise ConfigError(f"the ONNX model could not be loaded: {str(exc)[:300]}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ConfigError(f"the model must have exactly one input, it has {len(inputs)}")
        self.input_name = inputs[0].name
        self._check_input(inputs[0].shape, inputs[0].type)
        want_outputs = 2 if spec.output == "boxes_scores" else 1
        if len(self.session.get_outputs()) < want_outputs:
            raise ConfigError(f"the model must have at least {want_outputs} output(s) for {spec.task}")

    def _check_input(self, shape: list[Any], dtype: str) -> None:
        w, h = self.spec.input_size
        want = [1, 3, h, w] if self.spec.layout == "NCHW" else [1, h, w, 3]
        # A dimension that is a name or None is dynamic: anything fits.
        fits = len(shape) == 4 and all(
            not isinstance(got, int) or got == exp for got, exp in zip(shape, want, strict=True)
        )
        if dtype != "tensor(float)" or not fits:
            raise ConfigError(
                f"the model input is {dtype} {shape}, the spec expects tensor(float) {want} "
                f"(input_size {list(self.spec.input_size)}, layout {self.spec.layout})"
            )

    def _run(self, image_bytes: bytes, budget: MemoryBudget | None, field: str) -> tuple[list[np.ndarray], Transform]:
        decoded = load_image(image_bytes, self.spec.input_size, budget, field)
        tensor, transform = preprocess(decoded, self.spec)
        return self.session.run(None, {self.input_name: tensor}), transform

    def classify(
        self, image_bytes: bytes, top_k: int = 5, budget: MemoryBudget | None = None, field: str = "image"
    ) -> list[dict[str, Any]]:
        if self.spec.task != "classification":
            raise ConfigError("this model is not a classifier")
        if not _is_int(top_k, 1, 1000):
            raise ApiError(400, "invalid_parameter", "top_k must be a whole number from 1 to 1000", param="top_k")
        outputs, _ = self._run(image_bytes, budget, field)
        logits = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
        if logits.size != len(self.spec.labels):
            raise ConfigError(f"the model outputs {logits.size} scores for {len(self.spec.labels)} labels")
        scores = softmax(logits) if self.spec.softmax else logits
        return _top_k(scores, self.spec.labels, top_k)

    def detect(
        self,
        image_bytes: bytes,
        min_score: float = 0.25,
        iou: float = 0.45,
        budget: MemoryBudget | None = None,
        field: str = "image",
    ) -> list[dict[str, Any]]:
        if self.spec.task != "detection":
            raise ConfigError("this model is not a detector")
        for name, value in (("min_score", min_score), ("iou", iou)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ApiError(400, "invalid_parameter", f"{name} must be a number from 0 to 1", param=name)
        outputs, transform = self._run(image_bytes, budget, field)
        return decode_detections(outputs, self.spec, transform, min_score, iou)


_top_k = top_k  # Model.classify's parameter is named top_k too
