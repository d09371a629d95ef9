"""Secrets from SSM Parameter Store (SecureString), read once per cold start.

Only the parameter *name* is in the environment; the value never is, and it is
never logged.
"""

from __future__ import annotations

from functools import cache

from imagegen import aws
from imagegen.config import ConfigError, env


@cache
def parameter(env_name: str) -> str:
    """The decrypted value of the SSM parameter whose name is in env var `env_name`."""
    name = env(env_name)
    try:
        response = aws.client("ssm").get_parameter(Name=name, WithDecryption=True)
    except Exception as exc:
        raise ConfigError(f"cannot read SSM parameter {name} ({aws.error_code(exc) or type(exc).__name__})") from None
    return response["Parameter"]["Value"]
