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
    retries = {"max_attempts": 3, "mode": "standard"}
    return boto3.client(service, config=Config(retries=retries, **config))


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
