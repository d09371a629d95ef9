"""AWS clients, made once per cold start and shared; secrets from SSM Parameter Store.

botocore honours AWS_ENDPOINT_URL itself, which is how tests and the local server reach LocalStack;
nothing here knows about it. Clients come from one botocore session, not boto3: boto3 adds only its
resource layer and s3transfer, which no function uses and whose imports (concurrent.futures,
multiprocessing) cost every cold start about 40 ms (make bench). botocore is imported at module
level, the one third-party import that is: every function that imports this module calls AWS, and
Lambda runs INIT with its full CPU share (make bench: moving it to the first call left INIT + first
request the same and made the first request slower). Secrets: only a parameter's *name* is in the
environment (settings); its value is read here once per cold start, decrypted, and never logged.
"""

from __future__ import annotations

from functools import cache

import botocore.session  # at INIT, on purpose: every function that imports this module makes AWS calls
from botocore.config import Config

from imagegen.errors import ConfigError


@cache
def session() -> botocore.session.Session:
    """The one session every client is made from (its event system is where tests watch the calls)."""
    return botocore.session.get_session()


@cache
def client(service: str, **config: object):
    settings: dict = {"retries": {"max_attempts": 3, "mode": "standard"}, **config}
    if service == "s3":
        # SigV4 presigned URLs: required for KMS-encrypted objects and in every newer region.
        settings.setdefault("signature_version", "s3v4")
    return session().create_client(service, config=Config(**settings))


def error_code(exc: Exception) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_aws_error(exc: Exception) -> bool:
    """True for an error botocore raised (an AWS answer, or no answer at all)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(exc, BotoCoreError | ClientError)


@cache
def secret(name: str) -> str:
    """The decrypted value of the SSM SecureString parameter `name`."""
    try:
        response = client("ssm").get_parameter(Name=name, WithDecryption=True)
    except Exception as exc:
        raise ConfigError(f"cannot read SSM parameter {name} ({error_code(exc) or type(exc).__name__})") from None
    return response["Parameter"]["Value"]
