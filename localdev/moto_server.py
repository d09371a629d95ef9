"""`python localdev/moto_server.py -H 127.0.0.1 -p PORT`: moto's server, plus what it lacks for us.

moto (5.x) drops a Lambda function's LoggingConfig (Lambda's JSON log format and log levels):
CreateFunction ignores it and GetFunction never returns it, so the aws provider would plan a
change to `logging_config` after every apply and the no-drift check would fail for moto's sake.
This keeps it the way AWS does: stored from CreateFunction / UpdateFunctionConfiguration and
returned (with AWS's defaults: Text, the function's own log group) by GetFunction[Configuration].

And moto answers an SQS queue's RedrivePolicy as `json.dumps` writes it (`{"a": 1, "b": 2}`), which the
aws provider (5.100) reads as a change to `redrive_policy` after every apply ("whitespace changes", its
plan says). This answers it compact, as `jsonencode` writes it, so the no-drift check is about our
configuration and not about moto's spacing.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from moto.awslambda import models
from moto.server import main
from moto.sqs import models as sqs

_init = models.LambdaFunction.__init__
_get_configuration = models.LambdaFunction.get_configuration
_update_configuration = models.LambdaFunction.update_configuration


def __init__(self, account_id: str, spec: dict[str, Any], region: str, version: str | int = 1) -> None:
    _init(self, account_id, spec, region, version)
    self.logging_config = {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{self.function_name}",
        **(spec.get("LoggingConfig") or {}),
    }


def get_configuration(self, on_create: bool = False) -> dict[str, Any]:
    config = _get_configuration(self, on_create)
    config["LoggingConfig"] = dict(self.logging_config)
    return config


def update_configuration(self, config_updates: dict[str, Any]) -> dict[str, Any]:
    if "LoggingConfig" in config_updates:
        self.logging_config = {**self.logging_config, **config_updates["LoggingConfig"]}
    return _update_configuration(self, config_updates)


_queue_attributes = sqs.Queue.attributes.fget


def queue_attributes(self) -> dict[str, Any]:
    result = _queue_attributes(self)
    if self.redrive_policy:
        result["RedrivePolicy"] = json.dumps(self.redrive_policy, separators=(",", ":"))
    return result


sqs.Queue.attributes = property(queue_attributes)
models.LambdaFunction.__init__ = __init__
models.LambdaFunction.get_configuration = get_configuration
models.LambdaFunction.update_configuration = update_configuration

if __name__ == "__main__":
    main(sys.argv[1:])
