"""OpenAI's JSON edit with image URLs: everything checked before anything is fetched, then every URL
fetched at once under one deadline taken from the time the Lambda has left.

A local https site (a certificate for localhost, trusted through SSL_CERT_FILE) answers each image
after `delay` seconds and counts the downloads it serves at once.
"""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest
import requests
from PIL import Image

from localdev import https_site as https
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock, as a fixture)

pytestmark = pytest.mark.integration


def png(colour=(20, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (128, 128), colour).save(out, format="PNG")
    return out.getvalue()


class Slow(BaseHTTPRequestHandler):
    delay = 0.0
    hits: list[str] = []
    lock = threading.Lock()
    in_flight = most = 0

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        cls = type(self)
        with cls.lock:
            cls.hits.append(self.path)
            cls.in_flight += 1
            cls.most = max(cls.most, cls.in_flight)
        try:
            time.sleep(cls.delay)
            body = png()
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (its deadline)
        finally:
            with cls.lock:
                cls.in_flight -= 1


@pytest.fixture
def site(tmp_path, monkeypatch):
    server, cert = https.start(Slow, tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv("IMAGEGEN_FETCH_ALLOW_LOOPBACK", "1")  # tests only: the site is on this machine
    Slow.hits, Slow.in_flight, Slow.most, Slow.delay = [], 0, 0, 0.0
    yield f"https://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def edit(api: str, body: dict) -> requests.Response:
    return requests.post(f"{api}/v1/images/edits", json=body, timeout=60)


def test_a_bad_field_is_refused_before_any_url_is_fetched(api, models, site):  # noqa: F811
    # GIVEN eight slow image URLs and a mask URL, with n out of range (the security review's 81 s request)
    Slow.delay = 5
    body = {"images": [{"image_url": f"{site}/{i}.png"} for i in range(8)], "mask": {"image_url": f"{site}/m.png"}}
    checks = ({"n": 0}, "n"), ({"model": "no-such-model"}, "model"), ({"response_format": "gif"}, "response_format")
    for bad, field in checks:
        # WHEN it is posted
        response = edit(api, {**body, "prompt": "x", **bad})
        # THEN the answer names the field, and not one URL was fetched
        assert response.status_code == 400 and response.json()["error"]["param"] == field, response.text
    assert Slow.hits == []


def test_every_url_is_fetched_at_once(api, models, site):  # noqa: F811
    # GIVEN eight image URLs that each take a second to answer
    Slow.delay = 1.0
    body = {"images": [{"image_url": f"{site}/{i}.png"} for i in range(8)], "prompt": "as a watercolour"}
    # WHEN they are edited on SD3.5 (n=1: 8 model calls, the default cap)
    response = edit(api, {**body, "model": "sd3.5-large"})
    # THEN all eight were downloading at the same time, and eight images came back
    assert response.status_code == 201, response.text
    assert sorted(Slow.hits) == sorted(f"/{i}.png" for i in range(8))
    assert Slow.most == 8, f"at most {Slow.most} downloads at once"
    assert len(response.json()["data"]) == 8


def test_downloads_share_one_deadline_from_the_lambdas_remaining_time(api, models, site):  # noqa: F811
    # GIVEN a Lambda with 30 s left (the local server's context) and Bedrock's 25 s read timeout: the
    # downloads get what is left after the model call needs its time (3 s), together, not 10 s each
    Slow.delay = 8
    body = {"images": [{"image_url": f"{site}/{i}.png"} for i in range(3)], "prompt": "x", "model": "sd3.5-large"}
    response = edit(api, body)
    # THEN the first URL in request order answers for all: it took longer than the shared 3 s
    error = response.json()["error"]
    assert response.status_code == 422 and error["param"] == "images", response.text
    assert "longer than 3s" in error["message"] and Slow.most == 3
