"""The ONNX inference core of the analysis routes, against tiny real ONNX models built here with onnx.helper."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from tests.conftest import require

np = require("numpy")
require("PIL")
onnx = require("onnx")  # a test dependency only: the layer ships onnxruntime, not onnx
require("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402

from imagegen.analysis import onnx as vision  # noqa: E402
from imagegen.analysis.onnx import Model, ModelSpec, Transform  # noqa: E402
from imagegen.errors import ApiError, ConfigError  # noqa: E402

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
RGB = ["red", "green", "blue"]


# ---- tiny models -------------------------------------------------------------------------------------------


def to_bytes(graph) -> bytes:
    # IR 8 is the version that goes with opset 17; onnxruntime reads it whatever onnx writes by default.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def classifier(width: int = 224, height: int = 224, layout: str = "NCHW", input_shape: list | None = None) -> bytes:
    """logits = per-channel mean of the (normalised) image: the image's mean colour predicts the class."""
    shape = input_shape or ([1, 3, height, width] if layout == "NCHW" else [1, height, width, 3])
    nodes = []
    source = "image"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
        source = "nchw"
    nodes += [
        helper.make_node("GlobalAveragePool", [source], ["pooled"]),  # [1, 3, 1, 1]
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),  # [1, 3]
        helper.make_node("Gemm", ["flat", "weights", "bias"], ["logits"]),  # identity weights: logits = means
    ]
    graph = helper.make_graph(
        nodes,
        "mean_colour",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        initializer=[
            numpy_helper.from_array(np.eye(3, dtype=np.float32), "weights"),
            numpy_helper.from_array(np.zeros(3, dtype=np.float32), "bias"),
        ],
    )
    return to_bytes(graph)


def constant_model(outputs: list[np.ndarray], width: int = 320, height: int = 320) -> bytes:
    """Outputs fixed tensors whatever the image: each is constant + 0 * mean(image), so the input is used."""
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    initializers = [numpy_helper.from_array(np.array(0, dtype=np.float32), "zero")]
    graph_outputs = []
    for i, value in enumerate(outputs):
        const = numpy_helper.from_array(value.astype(np.float32), f"value{i}")
        nodes.append(helper.make_node("Constant", [], [f"const{i}"], value=const))
        nodes.append(helper.make_node("Add", [f"const{i}", "nothing"], [f"out{i}"]))
        graph_outputs.append(helper.make_tensor_value_info(f"out{i}", TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes,
        "constant_head",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
        graph_outputs,
        initializer=initializers,
    )
    return to_bytes(graph)


# Three YOLO candidates (cx, cy, w, h in 320x320 input pixels, then scores for cat, dog):
# A and B are cats overlapping heavily (IoU 0.863); C is a dog that runs past the right edge of the image.
YOLO_ROWS = np.array(
    [
        [160, 160, 100, 80, 0.90, 0.05],  # A
        [165, 162, 100, 80, 0.75, 0.10],  # B
        [300, 60, 60, 40, 0.02, 0.60],  # C
    ],
    dtype=np.float32,
)
# A 640x480 image letterboxed into 320x320: scale 0.5, 320x240 pasted at (0, 40). Original = (input - pad) / 0.5.
EXPECTED_A = {"label": "cat", "x": 220.0, "y": 160.0, "width": 200.0, "height": 160.0}  # input 110,120 - 210,200
EXPECTED_C = {"label": "dog", "x": 540.0, "y": 0.0, "width": 100.0, "height": 80.0}  # input 270,40 - 330,80: clipped


def detector_spec(**overrides) -> ModelSpec:
    row = {"task": "detection", "input_size": [320, 320], "resize": "letterbox", "output": "yolo"}
    return ModelSpec.from_dict({**row, "labels": ["cat", "dog"], **overrides})


def classifier_spec(**overrides) -> ModelSpec:
    row = {"task": "classification", "input_size": [224, 224], "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    return ModelSpec.from_dict({**row, "labels": RGB, **overrides})


def encode(colour, size=(64, 48), fmt="PNG", **save_args) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt, **save_args)
    return out.getvalue()


def without_score(detection: dict) -> dict:
    return {k: v for k, v in detection.items() if k != "score"}


# ---- classification ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rgb_classifier() -> Model:
    return Model(classifier_spec(), classifier())


def test_classifier_ranks_pure_colours_in_every_format(rgb_classifier):
    # GIVEN a red PNG, a blue JPEG and a green WebP (none of them 224x224: the spec resizes)
    red, blue, green = encode((255, 0, 0)), encode((0, 0, 255), fmt="JPEG"), encode((0, 255, 0), fmt="WEBP")
    # THEN each one's colour comes first
    assert rgb_classifier.classify(red, 3)[0]["label"] == "red"
    assert rgb_classifier.classify(blue, 3)[0]["label"] == "blue"
    assert rgb_classifier.classify(green, 3)[0]["label"] == "green"


def test_classifier_scores_are_the_softmax_of_the_normalised_means(rgb_classifier):
    # GIVEN pure red: its normalised channels are (pixel/255 - mean) / std, and the model's logits are those
    logits = [(value - m) / s for value, m, s in zip((1.0, 0.0, 0.0), IMAGENET_MEAN, IMAGENET_STD, strict=True)]
    expected = np.exp(logits) / np.exp(logits).sum()
    # WHEN the two best are asked for
    result = rgb_classifier.classify(encode((255, 0, 0), size=(300, 200)), top_k=2)
    # THEN they are red then the better of green/blue, with the hand-computed probabilities
    assert [r["label"] for r in result] == ["red", "blue"]  # blue's mean/std is less negative than green's
    # (rel 1e-3: onnxruntime's float32 GlobalAveragePool over 50176 pixels is off by ~1e-4)
    assert result[0]["score"] == pytest.approx(expected[0], rel=1e-3)
    assert result[1]["score"] == pytest.approx(expected[2], rel=1e-3)
    assert sum(r["score"] for r in result) <= 1


def test_classifier_without_softmax_returns_the_logits():
    model = Model(classifier_spec(softmax=False), classifier())
    result = model.classify(encode((0, 0, 255)), top_k=1)
    assert result == [{"label": "blue", "score": pytest.approx((1 - 0.406) / 0.225, rel=1e-3)}]


def test_nhwc_layout_and_dynamic_dimensions_are_accepted():
    # GIVEN a model that takes [1, H, W, 3], and one whose batch and size are dynamic
    nhwc = Model(classifier_spec(layout="NHWC", input_size=[96, 64]), classifier(96, 64, "NHWC"))
    dynamic = Model(classifier_spec(), classifier(input_shape=["batch", 3, "height", "width"]))
    # THEN both classify
    assert nhwc.classify(encode((0, 255, 0)), 1)[0]["label"] == "green"
    assert dynamic.classify(encode((255, 0, 0)), 1)[0]["label"] == "red"


@pytest.mark.parametrize(
    "overrides",
    [{"input_size": [224, 225]}, {"layout": "NHWC"}, {"input_size": [225, 224]}],
    ids=["height", "layout", "width"],
)
def test_a_model_whose_input_does_not_fit_the_spec_is_a_config_error(overrides):
    with pytest.raises(ConfigError, match=r"model input is tensor\(float\) \[1, 3, 224, 224\]"):
        Model(classifier_spec(**overrides), classifier())


def test_a_model_file_that_is_not_onnx_is_a_config_error():
    with pytest.raises(ConfigError, match="could not be loaded"):
        Model(classifier_spec(), b"not a model")


def test_classify_refuses_a_bad_top_k(rgb_classifier):
    with pytest.raises(ApiError) as err:
        rgb_classifier.classify(encode((255, 0, 0)), top_k=0)
    assert (err.value.status, err.value.param) == (400, "top_k")


# ---- detection ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["rows", "columns"])
def yolo_detector(request) -> Model:
    # YOLO heads come as [1, N, 4+C] or transposed [1, 4+C, N] (YOLOv8): both must decode the same
    output = YOLO_ROWS[None] if request.param == "rows" else YOLO_ROWS.T[None]
    return Model(detector_spec(), constant_model([output]))


def test_nms_keeps_the_better_of_two_overlapping_boxes_and_maps_to_original_pixels(yolo_detector):
    # GIVEN a 640x480 image (letterboxed into 320x320)
    detections = yolo_detector.detect(encode((0, 0, 0), size=(640, 480)), min_score=0.25, iou=0.5)
    # THEN B is suppressed by A, C (another class) stays, both in 640x480 pixels, best score first
    assert [without_score(d) for d in detections] == [EXPECTED_A, EXPECTED_C]
    assert [d["score"] for d in detections] == pytest.approx([0.9, 0.6])


def test_min_score_and_iou_thresholds(yolo_detector):
    image = encode((0, 0, 0), size=(640, 480))
    assert [d["label"] for d in yolo_detector.detect(image, min_score=0.7, iou=0.5)] == ["cat"]
    # IoU(A, B) = 0.863: a threshold above it keeps both cats
    assert [d["score"] for d in yolo_detector.detect(image, min_score=0.25, iou=0.9)] == pytest.approx([0.9, 0.75, 0.6])
    assert yolo_detector.detect(image, min_score=0.95, iou=0.5) == []


def test_boxes_are_in_the_displayed_frame_of_an_exif_rotated_photo(yolo_detector):
    # GIVEN a JPEG stored 480x640 with EXIF orientation 6 (rotate 90 degrees clockwise): displayed 640x480
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = encode((0, 0, 0), size=(480, 640), fmt="JPEG", exif=exif)
    decoded = vision.load_image(rotated)
    assert decoded.image.size == (decoded.width, decoded.height) == (640, 480)
    # THEN the boxes are the same as for a 640x480 image, not mapped into the stored 480x640 frame
    assert [without_score(d) for d in yolo_detector.detect(rotated, 0.25, 0.5)] == [EXPECTED_A, EXPECTED_C]


def test_boxes_scores_output_with_stretch_resize():
    # GIVEN an SSD-style head: normalised x1,y1,x2,y2 boxes and per-class scores, and a stretched 640x480 image
    boxes = np.array([[[0.25, 0.25, 0.5, 0.5], [0.26, 0.25, 0.5, 0.5], [0.0, 0.5, 1.0, 1.2]]], dtype=np.float32)
    scores = np.array([[[0.1, 0.8], [0.1, 0.7], [0.55, 0.2]]], dtype=np.float32)
    spec = detector_spec(output="boxes_scores", resize="stretch")
    model = Model(spec, constant_model([boxes, scores]))
    detections = model.detect(encode((0, 0, 0), size=(640, 480)), min_score=0.3, iou=0.5)
    # THEN normalised boxes scale straight to the original size (x * 640, y * 480), clipped to it
    assert [without_score(d) for d in detections] == [
        {"label": "dog", "x": 160.0, "y": 120.0, "width": 160.0, "height": 120.0},
        {"label": "cat", "x": 0.0, "y": 240.0, "width": 640.0, "height": 240.0},
    ]


def test_detect_refuses_thresholds_outside_0_to_1(yolo_detector):
    with pytest.raises(ApiError) as err:
        yolo_detector.detect(encode((0, 0, 0)), min_score=1.5)
    assert (err.value.status, err.value.param) == (400, "min_score")


def test_a_yolo_output_that_does_not_match_the_labels_is_a_config_error():
    model = Model(detector_spec(labels=["cat", "dog", "bird"]), constant_model([YOLO_ROWS[None]]))
    with pytest.raises(ConfigError, match=r"yolo output must be \[1, N, 7\]"):
        model.detect(encode((0, 0, 0)), 0.25, 0.5)


# ---- postprocessing units ----------------------------------------------------------------------------------


def test_softmax_is_stable_for_large_logits():
    result = vision.softmax(np.array([1000.0, 1000.0, 0.0]))
    assert result == pytest.approx([0.5, 0.5, 0.0])
    assert vision.softmax(np.array([1.0, 2.0, 3.0])).sum() == pytest.approx(1.0)


def test_top_k_orders_by_score_and_breaks_ties_by_index():
    scores = np.array([0.2, 0.5, 0.2, 0.1])
    assert vision.top_k(scores, ["a", "b", "c", "d"], 3) == [
        {"label": "b", "score": 0.5},
        {"label": "a", "score": 0.2},
        {"label": "c", "score": 0.2},
    ]
    assert len(vision.top_k(scores, ["a", "b", "c", "d"], 10)) == 4


def test_nms_is_greedy_and_per_class():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.3])
    # without classes, box 1 (best) suppresses 0 and 2 (IoU 0.68); 3 overlaps nothing
    assert vision.nms(boxes, scores, 0.5) == [1, 3]
    # with classes, box 2 is another class and survives; 0 is still suppressed by 1
    assert vision.nms(boxes, scores, 0.5, classes=np.array([0, 0, 1, 0])) == [1, 2, 3]
    # at IoU threshold 0.7 the 0.68 overlaps stay
    assert vision.nms(boxes, scores, 0.7) == [1, 2, 3]  # 0 is still a duplicate of 2 (IoU 1)
    assert vision.nms(np.zeros((0, 4)), np.zeros(0), 0.5) == []


def test_nms_at_high_threshold_keeps_all_but_identical_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], dtype=np.float32)
    # boxes 0 and 2 are identical (IoU 1): the lower-index one of equal score wins
    assert vision.nms(boxes, np.array([0.5, 0.9, 0.5]), 0.99) == [1, 0]


@pytest.mark.parametrize("size", [(640, 480), (333, 777), (320, 320), (10, 1000)])
def test_letterbox_transform_round_trip(size):
    spec = detector_spec()
    tensor, transform = vision.preprocess(Image.new("RGB", size, (255, 255, 255)), spec)
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    # the aspect ratio is kept (to the pixel) and the image is centred
    w, h = size
    scale = min(320 / w, 320 / h)
    new_w, new_h = round(w * transform.scale_x), round(h * transform.scale_y)
    assert abs(new_w - w * scale) <= 0.5 and abs(new_h - h * scale) <= 0.5
    assert max(new_w, new_h) == 320 and transform.pad_x == (320 - new_w) // 2 and transform.pad_y == (320 - new_h) // 2
    # a box inside the image -> input pixels -> back again
    box = np.array([[w * 0.1, h * 0.2, w * 0.7, h * 0.9]])
    scale = np.array([transform.scale_x, transform.scale_y] * 2)
    pad = np.array([transform.pad_x, transform.pad_y] * 2)
    assert transform.to_original(box * scale + pad) == pytest.approx(box)
    # the padding is 114 grey (normalised like the pixels), the image white
    if transform.pad_y:
        assert tensor[0, :, 0, 160] == pytest.approx([114 / 255] * 3)
    if transform.pad_x:
        assert tensor[0, :, 160, 0] == pytest.approx([114 / 255] * 3)
    assert tensor[0, :, 160, 160] == pytest.approx([1.0] * 3)


def test_preprocess_normalises_and_stretches():
    spec = classifier_spec(layout="NHWC", input_size=[10, 20])
    tensor, transform = vision.preprocess(Image.new("RGB", (40, 40), (255, 0, 0)), spec)
    assert tensor.shape == (1, 20, 10, 3)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (0 - 0.406) / 0.225]
    assert tensor[0, 5, 5] == pytest.approx(expected, rel=1e-5)
    assert transform == Transform(40, 40, 0.25, 0.5, 0, 0)


def test_transform_clips_to_the_image():
    transform = Transform(100, 50, 1.0, 1.0)
    assert transform.to_original(np.array([[-5.0, -5.0, 120.0, 60.0]])).tolist() == [[0, 0, 100, 50]]


# ---- ModelSpec ---------------------------------------------------------------------------------------------


def test_model_spec_defaults():
    spec = ModelSpec.from_dict({"task": "classification", "input_size": [224, 224], "labels": ["a"]})
    assert (spec.layout, spec.mean, spec.std, spec.resize, spec.softmax, spec.output) == (
        "NCHW",
        (0.0, 0.0, 0.0),
        (1.0, 1.0, 1.0),
        "stretch",
        True,
        None,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task": "segmentation"}, "task"),
        ({"task": None}, "task"),
        ({"input_size": [224]}, "input_size"),
        ({"input_size": [224, 0]}, "input_size"),
        ({"input_size": [224.0, 224]}, "input_size"),
        ({"input_size": [True, 224]}, "input_size"),
        ({"layout": "CHW"}, "layout"),
        ({"mean": [0.5, 0.5]}, "mean"),
        ({"mean": [0.5, "0.5", 0.5]}, "mean"),
        ({"mean": [0.5, float("nan"), 0.5]}, "mean"),
        ({"std": [0.5, 0.0, 0.5]}, "std"),
        ({"resize": "crop"}, "resize"),
        ({"labels": []}, "labels"),
        ({"labels": ["a", 3]}, "labels"),
        ({"labels": "abc"}, "labels"),
        ({"softmax": "yes"}, "softmax"),
        ({"output": "yolo"}, "output"),  # detection only
        ({"input_sise": [1, 1]}, "input_sise"),  # a typo is not silently ignored
    ],
)
def test_model_spec_validation_names_the_field(change, field):
    row = {"task": "classification", "input_size": [224, 224], "labels": ["a", "b"], **change}
    with pytest.raises(ConfigError, match=field):
        ModelSpec.from_dict(row)


@pytest.mark.parametrize(
    ("change", "field"),
    [({}, "output"), ({"output": "ssd"}, "output"), ({"output": "yolo", "softmax": True}, "softmax")],
)
def test_detection_spec_validation(change, field):
    with pytest.raises(ConfigError, match=field):
        ModelSpec.from_dict({"task": "detection", "input_size": [640, 640], "labels": ["a"], **change})


def test_model_spec_must_be_an_object():
    with pytest.raises(ConfigError, match="JSON object"):
        ModelSpec.from_dict([1, 2])


# ---- load_image --------------------------------------------------------------------------------------------


def png_header(width: int, height: int) -> bytes:
    """A PNG that is only its IHDR (claiming width x height) and IEND: tiny on the wire, huge once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", encode((1, 2, 3))[:60], encode((1, 2, 3), fmt="BMP")],
    ids=["empty", "text", "truncated-png", "bmp-not-accepted"],
)
def test_what_is_not_an_image_is_a_400(data):
    with pytest.raises(ApiError) as err:
        vision.load_image(data)
    assert (err.value.status, err.value.code) == (400, "not_an_image")


@pytest.mark.parametrize("side", [100_000, 8_000], ids=["past-twice-the-limit", "past-the-limit"])
def test_a_decompression_bomb_is_a_413(side):
    # 100000^2 is past Pillow's error threshold; 8000^2 = 64 MP only past its warning threshold: both refused
    with pytest.raises(ApiError) as err:
        vision.load_image(png_header(side, side))
    assert (err.value.status, err.value.code) == (413, "image_too_large")


def test_load_image_applies_exif_orientation_and_converts_to_rgb():
    # GIVEN a JPEG stored 40x20, its left half red, with EXIF orientation 6
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    out = io.BytesIO()
    stored.save(out, "JPEG", exif=exif, quality=95)
    image = vision.load_image(out.getvalue()).image
    # THEN it is displayed 20x40 with the stored left half on top (rotated 90 degrees clockwise)
    assert image.size == (20, 40) and image.mode == "RGB"
    top, bottom = image.getpixel((10, 5)), image.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60
    # and a palette PNG with transparency comes back RGB
    out = io.BytesIO()
    Image.new("P", (4, 4), 0).save(out, "PNG", transparency=0)
    assert vision.load_image(out.getvalue()).image.mode == "RGB"


# ---- memory: shrunk before it is copied, a budget per request ------------------------------------------------


def big_png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def test_a_large_image_is_shrunk_to_what_the_model_needs_and_boxes_stay_in_its_own_pixels(yolo_detector):
    # GIVEN a 2560x1920 JPEG (4x the 640x480 of the reference): the model takes 320x320
    image = encode((0, 0, 0), size=(2560, 1920), fmt="JPEG")
    decoded = vision.load_image(image, yolo_detector.spec.input_size)
    # THEN it decoded small (JPEG draft), never below twice the model's input, and knows its real size
    assert (decoded.width, decoded.height) == (2560, 1920)
    assert 640 <= decoded.image.width < 2560 and 640 <= decoded.image.height < 1920
    # AND boxes come back in the original's pixels: 4x the 640x480 ones
    found = [without_score(d) for d in yolo_detector.detect(image, 0.25, 0.5)]
    scaled = [{k: v * 4 if k != "label" else v for k, v in d.items()} for d in (EXPECTED_A, EXPECTED_C)]
    assert [d["label"] for d in found] == ["cat", "dog"]
    for got, want in zip(found, scaled, strict=True):
        assert {k: got[k] for k in ("x", "y", "width", "height")} == pytest.approx(
            {k: want[k] for k in ("x", "y", "width", "height")}, abs=4
        )


BUDGET_CHILD = """
import concurrent.futures, io, sys
sys.path.insert(0, sys.argv[1])
from PIL import Image
from imagegen.analysis import onnx as vision

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

out = io.BytesIO()
Image.new("RGB", (4472, 4472), (200, 40, 40)).save(out, format="PNG")
data = out.getvalue()
budget = vision.MemoryBudget(200 * 2**20)
before = hwm()
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    decoded = list(pool.map(lambda _: vision.load_image(data, (224, 224), budget, "image"), range(4)))
assert all(d.image.width <= 1200 for d in decoded) and budget.used == 0
print(budget.peak, hwm() - before)
"""


def test_a_request_decodes_within_its_budget_and_an_image_that_cannot_fit_is_a_413():
    # GIVEN four 20 MP PNGs (60 MB each to decode) decoded at once against a 200 MB budget, in a
    # process of their own (its peak memory is the request's)
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run(
        [sys.executable, "-c", BUDGET_CHILD, str(ROOT / "src")], capture_output=True, text=True, check=True
    )
    held, growth = (int(x) for x in out.stdout.split())
    # THEN at most three were held at once (the budget's own count), more than one ran at a time,
    # and the process's real peak grew by about the budget, not four decodes' 240 MB and more
    assert 2 * 60 * 2**20 <= held <= 200 * 2**20
    assert growth <= 250 * 2**20, f"peak grew {growth / 2**20:.0f} MB"
    # AND an image bigger than the whole budget is refused by name before it is decoded
    data = big_png(4472)
    small = vision.MemoryBudget(10 * 2**20)
    with pytest.raises(ApiError) as err:
        vision.load_image(data, (224, 224), small, "image[2]")
    assert (err.value.status, err.value.code, err.value.param) == (413, "image_too_large", "image[2]")


def test_analysis_keeps_its_pixel_limit_to_itself():
    """make serve runs every function in one process: analysis's 50 MP limit must not become the
    edit function's (Pillow's Image.MAX_IMAGE_PIXELS is process-wide; Lambda runs one function each)."""
    from PIL import Image as PillowImage

    from imagegen.images import pillow

    before = PillowImage.MAX_IMAGE_PIXELS
    photo = png_header(8_000, 7_000)  # 56 MP: past analysis's limit, inside Pillow's own
    with pytest.raises(ApiError) as err:
        vision.load_image(photo)
    assert err.value.status == 413
    assert before == PillowImage.MAX_IMAGE_PIXELS and pillow.dimensions(photo, "image") == (8_000, 7_000)
