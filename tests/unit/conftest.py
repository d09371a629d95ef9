"""Unit tests: AWS through moto in-process, never LocalStack or the network."""

from __future__ import annotations

import pytest
from moto import mock_aws

BUCKET = "imagegen-unit"


@pytest.fixture
def aws(monkeypatch):
    """An in-process AWS (moto) with the project's bucket created."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    with mock_aws():
        import boto3

        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield
