"""boto3 clients, made once per cold start and shared by the modules that need them.

boto3 honours AWS_ENDPOINT_URL itself, which is how tests and the local server reach
LocalStack; nothing here knows about it.
"""

from __future__ import annotations

from functools import cache

import boto3
from botocore.config import Config


@cache
def client(service: str, **config: object):
    settings: dict = {"retries": {"max_attempts": 3, "mode": "standard"}, **config}
    if service == "s3":
        # SigV4 presigned URLs: required for KMS-encrypted objects and in every newer region.
        settings.setdefault("signature_version", "s3v4")
    return boto3.client(service, config=Config(**settings))


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
