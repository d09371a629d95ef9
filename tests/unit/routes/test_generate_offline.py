"""make serve's offline models: when they start, what they set, what the banner says."""

from __future__ import annotations

import json
import os

import requests

from localdev import fake_models


def test_without_real_credentials_the_fakes_start_and_say_so(monkeypatch):
    # GIVEN LocalStack's test credentials only
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "SAGEMAKER_ENDPOINT_NAME",
                 "IMAGEGEN_MODELS_OFFLINE"):  # fmt: skip
        monkeypatch.setenv(name, "")  # recorded, so the test's changes are undone afterwards
        monkeypatch.delenv(name)
    # WHEN make serve starts its offline providers
    banner = fake_models.start_offline_models("127.0.0.1", 8080)
    # THEN the banner says OFFLINE, the env points botocore at a live fake, and jobs will be marked
    assert any("bedrock" in line and "OFFLINE" in line for line in banner)
    assert any("sagemaker" in line and "OFFLINE" in line for line in banner)
    assert os.environ["IMAGEGEN_MODELS_OFFLINE"] == "1"
    assert os.environ["SAGEMAKER_ENDPOINT_NAME"] == fake_models.FAKE_ENDPOINT
    url = os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"]
    assert url == os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"]
    scope = {"authorization": "AWS4-HMAC-SHA256 Credential=test/20261201/us-west-2/bedrock/aws4_request, ..."}
    answer = requests.post(
        f"{url}/model/stability.sd3-5-large-v1%3A0/invoke", data=json.dumps({}), headers=scope, timeout=5
    )
    assert answer.status_code == 400 and answer.headers["x-amzn-ErrorType"].startswith("ValidationException")


def test_with_real_credentials_nothing_is_faked(monkeypatch):
    # GIVEN an access key that is not LocalStack's
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
    monkeypatch.delenv("IMAGEGEN_MODELS_OFFLINE", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "")
    monkeypatch.delenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    banner = fake_models.start_offline_models("127.0.0.1", 8080)
    assert not any("OFFLINE" in line for line in banner)
    assert "AWS_ENDPOINT_URL_BEDROCK_RUNTIME" not in os.environ
