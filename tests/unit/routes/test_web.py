"""The playground page and the contract, as the web function serves them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from localdev.server import load_handler
from tests.conftest import FakeContext, get_event

ROOT = Path(__file__).resolve().parents[3]


def get(path: str) -> dict:
    from imagegen.routes import web

    web.page.cache_clear()  # the policy is made once per cold start: each test is one
    return load_handler("web")(get_event(f"GET {path}", path), FakeContext())


def test_the_committed_contract_is_what_the_code_generates():
    run = subprocess.run([sys.executable, "scripts/openapi.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_the_contract_has_every_route_with_its_auth():
    contract = json.loads(get("/openapi.json")["body"])
    routes = json.loads((ROOT / "functions/routes.json").read_text())
    for key, route in routes.items():
        method, path = key.split(" ", 1)
        operation = contract["paths"][path][method.lower()]
        assert (operation["security"] == [{"apiKey": []}]) == route["auth"], key
        if route["auth"]:
            assert {"401", "403"} <= set(operation["responses"]), key


def test_the_page_runs_only_its_own_script_and_style(monkeypatch):
    monkeypatch.setenv("BUCKET_NAME", "imagegen-123-us-west-2")
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    monkeypatch.delenv("IMAGEGEN_IMAGE_ORIGIN", raising=False)
    response = get("/")
    assert response["statusCode"] == 200 and response["headers"]["content-type"] == "text/html; charset=utf-8"
    html, policy = response["body"], response["headers"]["content-security-policy"]
    script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
    style = re.search(r"<style>(.*)</style>", html, re.S).group(1)

    def digest(text):
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    # every directive, exactly: one more source anywhere (frame-ancestors *, an unsafe-inline) is a hole
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives == {
        "default-src": "'none'",
        "script-src": digest(script),
        "style-src": digest(style),
        "img-src": "'self' data: blob: https://imagegen-123-us-west-2.s3.amazonaws.com"
        " https://imagegen-123-us-west-2.s3.us-west-2.amazonaws.com",  # the bucket's, nothing else
        "connect-src": "'self'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }
    assert html.count("<script") == 1 and "src=" not in html.split("<script>")[0].split("<style>")[0]
    assert get("/playground")["body"] == html


@pytest.mark.parametrize("region", ["us-east-1", "us-west-2", "eu-central-1"])
@pytest.mark.parametrize("bucket", ["imagegen-123456789012-us-west-2", "images.example.com"])
def test_the_pages_image_sources_are_where_botocore_presigns_this_bucket(monkeypatch, region, bucket):
    """Held against botocore itself: the origin of a presigned GET of this bucket, as the functions make
    it (no endpoint override, SigV4), is one the policy admits; http is never admitted on AWS."""
    import botocore.session
    from botocore.config import Config

    from imagegen.routes import web

    monkeypatch.setenv("BUCKET_NAME", bucket)
    monkeypatch.setenv("AWS_REGION", region)
    monkeypatch.delenv("IMAGEGEN_IMAGE_ORIGIN", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from imagegen import settings

    settings.bucket_name.cache_clear()
    client = botocore.session.get_session().create_client(
        "s3", region_name=region, aws_access_key_id="a", aws_secret_access_key="b",
        config=Config(signature_version="s3v4"),
    )  # fmt: skip
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "images/k.png"}, ExpiresIn=60)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    assert origin in web.image_origins() and all(o.startswith("https://") for o in web.image_origins())
