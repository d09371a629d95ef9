"""The official `openai` Node SDK (tests/node, installed by `make install` with npm) as the client, used as
its README shows, against a default deployment on `make serve`'s server: no `model=` picked for us, no
extra headers. Streamed uploads (`fs.createReadStream`) arrive chunked, with no Content-Length.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imagegen import catalog
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock, as a fixture)
from tests.integration.test_openai_sdk import alpha_mask, key, keyed_api, picture  # noqa: F401

pytestmark = pytest.mark.integration

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture
def node_run(keyed_api, key, models, monkeypatch, tmp_path):  # noqa: F811
    assert shutil.which("node"), "node is not installed (the project's setup needs Node 20+)"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run `make install` (npm ci in tests/node)"
    for name in ("GENERATE_MODELS", "EDIT_MODELS", "MODEL_ALIASES", "DEFAULT_RESPONSE_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    catalog.enabled.cache_clear()
    catalog.names.cache_clear()
    (tmp_path / "photo.png").write_bytes(picture(256, 256))
    (tmp_path / "mask.png").write_bytes(alpha_mask(256, 256, (64, 64, 192, 192)))
    env = {
        **os.environ,
        "IMAGEGEN_URL": keyed_api,
        "IMAGEGEN_API_KEY": key,
        "PHOTO": str(tmp_path / "photo.png"),
        "MASK": str(tmp_path / "mask.png"),
    }
    done = subprocess.run(["node", "images.mjs"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_node_sdk_gets_images_from_a_default_deployment(node_run):
    assert len(node_run["generate"]) == 2 and all(node_run["generate"])
    assert len(node_run["edit_stream"]) == 1 and node_run["edit_stream"][0]  # a chunked upload
    assert len(node_run["edit_two"]) == 2
    assert len(node_run["edit_mask"]) == 1
    assert len(node_run["variation"]) == 1 and node_run["variation"][0]
    assert node_run["gpt_image_b64"]["url"] is None and node_run["gpt_image_b64"]["b64_bytes"] > 1000


def test_the_node_sdk_raises_typed_errors_naming_the_field(node_run):
    for call, param in (("bad_size", "size"), ("unknown_model", "model"), ("bad_mask", "mask")):
        error = node_run[call]
        assert error["error"] == "BadRequestError" and error["status"] == 400, (call, error)
        assert error["param"] == param, (call, error)
