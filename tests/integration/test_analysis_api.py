"""Image analysis through the local HTTP API server: real ONNX Runtime inference on models in LocalStack S3.

The models (localdev/demo_models.py, built here with onnx's helper API) look at the mean colour, so
labels and scores are known; the detector's boxes are known in its input and checked in pixels of the
original image (letterboxed, EXIF-rotated).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from PIL import Image

from imagegen.analysis import models as analysis
from localdev import https_site as https

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture
def models_in_s3(analysis_models):
    return analysis_models


def picture(colour, size=(64, 48), fmt="PNG", **options) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt, **options)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def classify(api, payload=None, files=None, data=None, **query):
    return requests.post(
        f"{api}/v1/images/classifications", json=payload, files=files, data=data, params=query, timeout=30
    )


def detect(api, payload=None, files=None, **query):
    return requests.post(f"{api}/v1/images/detections", json=payload, files=files, params=query, timeout=30)


def softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_one_image_gets_its_top_labels_with_softmax_scores(api, models_in_s3):
    response = classify(api, {"image": b64(picture(RED))}, top_k=2)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    expected = softmax([1.0, 0.0, 0.0])
    assert [label["label"] for label in result["labels"]] == ["red", "green"]  # ties keep label order
    assert result["labels"][0]["score"] == pytest.approx(expected[0], abs=1e-4)
    assert result["labels"][1]["score"] == pytest.approx(expected[1], abs=1e-4)


def test_several_formats_and_sizes_in_one_multipart_request_keep_their_order(api, models_in_s3):
    files = [
        ("image", ("a.png", picture(BLUE, (300, 200)), "image/png")),
        ("image", ("b.jpg", picture(GREEN, (40, 90), "JPEG", quality=95), "image/jpeg")),
        ("image", ("c.webp", picture(RED, (128, 128), "WEBP", lossless=True), "image/webp")),
    ]
    response = classify(api, files=files, top_k=1)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["labels"][0]["label"] for r in results] == ["blue", "green", "red"]
    assert [r["index"] for r in results] == [0, 1, 2] and results[1]["source"].startswith("image[1]")


def test_a_batch_with_one_bad_image_answers_the_others(api, models_in_s3):
    response = classify(api, {"image": [b64(picture(GREEN)), b64(b"not an image at all"), "%%%"]})
    assert response.status_code == 200
    good, bad, broken = response.json()["results"]
    assert good["labels"][0]["label"] == "green"
    assert bad["error"]["code"] == "not_an_image" and "labels" not in bad
    assert broken["error"]["code"] == "invalid_base64"


def test_nothing_usable_is_a_400_that_still_says_why_for_each(api, models_in_s3):
    response = classify(api, {"image": [b64(b"GIF89a broken")], "image_url": "http://example.com/a.png"})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "no_usable_image"
    assert [r["error"]["code"] for r in body["results"]] == ["not_an_image", "url_refused"]


def test_detections_come_back_in_pixels_of_the_original_image(api, models_in_s3):
    # 640x480 letterboxed into 128x128: scale 0.2, 128x96 pasted at (0, 16). The kept box is input
    # (32, 32)-(96, 96) -> original ((32-0)/0.2, (32-16)/0.2) = (160, 80), 320x320; its near-twin is suppressed.
    response = detect(api, {"image": b64(picture(RED, (640, 480)))})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    (found,) = result["detections"]
    assert {k: found[k] for k in ("label", "x", "y", "width", "height")} == {
        "label": "red", "x": 160.0, "y": 80.0, "width": 320.0, "height": 320.0,
    }  # fmt: skip
    # The score is the input's mean red: 96 of 128 rows are the picture (1.0), the rest letterbox grey (114/255).
    assert found["score"] == pytest.approx(0.75 + 0.25 * 114 / 255, abs=1e-4)
    both = detect(api, {"image": b64(picture(RED, (640, 480)))}, iou=0.95).json()["results"][0]["detections"]
    assert len(both) == 2  # a looser iou keeps the overlapping candidate too
    none = detect(api, {"image": b64(picture((30, 30, 30), (640, 480)))}, min_score=0.5).json()
    assert none["results"][0]["detections"] == []


def test_an_exif_rotated_photo_is_measured_as_displayed(api, models_in_s3):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    rotated = picture(BLUE, (640, 480), "JPEG", exif=exif.tobytes())
    (result,) = detect(api, files=[("image", ("r.jpg", rotated, "image/jpeg"))]).json()["results"]
    (found,) = result["detections"]
    # Displayed 480x640: scale 0.2 -> 96x128 pasted at (16, 0); input box (32, 32)-(96, 96) -> x (32-16)/0.2 = 80.
    assert (found["label"], found["x"], found["y"], found["width"], found["height"]) == (
        "blue",
        80.0,
        160.0,
        320.0,
        320.0,
    )


@pytest.mark.parametrize(
    "route, query, param",
    [
        ("classifications", {"top_k": "0"}, "top_k"),
        ("classifications", {"top_k": "21"}, "top_k"),
        ("classifications", {"top_k": "two"}, "top_k"),
        ("detections", {"min_score": "1.5"}, "min_score"),
        ("detections", {"iou": "nan"}, "iou"),
    ],
)
def test_parameters_out_of_range_are_a_400_naming_them(api, models_in_s3, route, query, param):
    response = requests.post(f"{api}/v1/images/{route}", json={"image": b64(picture(RED))}, params=query, timeout=30)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


# -- URL images: fetched by the Lambda itself, so SSRF-safe -----------------------------------------


class Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):
        Counting.hits.append(self.path)
        body = picture(GREEN)
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def local_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/a.png",
        "https://127.0.0.1:{port}/a.png",
        "https://[::1]:{port}/a.png",
        "https://localhost:{port}/a.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/a.png",
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/a.png",
    ],
)
def test_urls_to_this_machine_or_private_networks_are_refused_with_nothing_fetched(api, models_in_s3, local_site, url):
    Counting.hits.clear()
    response = classify(api, {"image_url": url.format(port=local_site)})
    assert response.status_code == 400
    (result,) = response.json()["results"]
    assert result["error"]["code"] in ("url_refused", "invalid_image_url")
    assert Counting.hits == []


@pytest.fixture
def https_site(tmp_path, monkeypatch):
    """An https server on this machine with a certificate for localhost, trusted through SSL_CERT_FILE."""
    server, cert = https.start(Counting, tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("IMAGEGEN_FETCH_ALLOW_LOOPBACK", "1")  # tests only: the server is on this machine
    yield server.server_address[1]
    server.shutdown()


def test_an_https_url_image_is_fetched_and_analysed(api, models_in_s3, https_site):
    Counting.hits.clear()
    response = classify(api, {"image_url": f"https://localhost:{https_site}/green.png?token=secret"}, top_k=1)
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["labels"][0]["label"] == "green"
    assert Counting.hits == ["/green.png?token=secret"]


def test_a_route_without_a_configured_model_is_501(api, models_in_s3, monkeypatch):
    table = json.loads(os.environ["ANALYSIS_MODELS"])
    monkeypatch.setenv("ANALYSIS_MODELS", json.dumps({"classification": table["classification"]}))
    analysis.model.cache_clear()
    try:
        response = detect(api, {"image": b64(picture(RED))})
        assert response.status_code == 501 and response.json()["error"]["code"] == "model_not_configured"
    finally:
        analysis.model.cache_clear()


def test_an_image_too_large_for_the_functions_memory_is_a_413_naming_it_and_the_others_are_answered(
    api, models_in_s3, monkeypatch
):
    # GIVEN a 128 MB function (51 MB for one request's decoded images) and a 20 MP PNG among small ones
    from imagegen import settings

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
    settings.function_memory_mb.cache_clear()
    try:
        images = [b64(picture(RED)), b64(picture(RED, size=(4472, 4472))), b64(picture(RED))]
        response = classify(api, {"image": images})
    finally:
        settings.function_memory_mb.cache_clear()
    # THEN the large one is refused by name (it could never fit) and the others have their labels
    assert response.status_code == 200, response.text
    first, big, last = response.json()["results"]
    assert big["error"]["code"] == "image_too_large" and big["error"]["message"].startswith("image[1]")
    assert first["labels"] and last["labels"]
