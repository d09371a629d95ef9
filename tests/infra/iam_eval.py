"""What IAM would say to an AWS call, from the call as the code made it and the role's own policy.

S3's implicit check behind a 404 for a missing key (s3:ListBucket, the key as s3:prefix) follows
what Ceph's S3 tests hold AWS to (ceph/s3-tests test_head_object_404_with_policy_prefix); a listing
without a Prefix carries no s3:prefix at all (what the AWS CLI and SDK fixes for such policies show).

`record()` registers a hook on the session imagegen.aws makes every client from: it sees every call
a client made from it makes (and every presigned URL it signs, which is used later with the same role's authority):
service, operation, parameters and the client's region. `needs()` turns one call into the IAM
requests AWS evaluates for it (action, resource ARN, condition context), including the implicit
ones: S3 reading or writing an object in a bucket whose default encryption is SSE-KMS uses the
bucket's key through S3 (kms:Decrypt to read, kms:GenerateDataKey to write, with kms:ViaService);
an inference profile needs the profile in the calling region and the foundation model in every
region the profile routes to (AWS, "Prerequisites for inference profiles"); a Marketplace model
with a listed product id needs aws-marketplace:Subscribe and ViewSubscriptions for its first use.
`allowed()` evaluates identity-policy Allow statements the way IAM does for the operators our
policies use (no Deny statements in them); `unused()` is the other side: every grant a policy makes
(action, resource, and each value of a condition) must be what some call needed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Call:
    service: str  # botocore's service id, hyphenated: s3, ssm, bedrock-runtime, sagemaker-runtime
    operation: str  # PutObject, GetParameter, InvokeModel, ...
    params: dict = field(hash=False, compare=False)
    region: str = ""


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        extra = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{extra}"


def record(calls: list[Call]) -> Callable[[], None]:
    """Record every call of clients made from imagegen.aws's session from now on; returns the unhook."""
    from imagegen import aws

    session = aws.session()

    def hook(params: dict, model, event_name: str, context: dict | None = None, **_) -> None:
        service = event_name.split(".")[1]
        calls.append(Call(service, model.name, dict(params), (context or {}).get("client_region") or ""))

    session.register("before-parameter-build", hook, unique_id="iam-eval-record")
    return lambda: session.unregister("before-parameter-build", unique_id="iam-eval-record")


S3_ACTIONS = {"PutObject": "s3:PutObject", "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
              "DeleteObject": "s3:DeleteObject"}  # fmt: skip


def needs(call: Call, account: str, kms_key_arn: str, region: str, profiles: dict, products: dict) -> list[Need]:
    """The IAM requests one call makes. `profiles`: model id -> {source region: [routed regions]};
    `products`: foundation-model id -> Marketplace product id (None: AWS lists none)."""
    p = call.params
    if call.service == "s3":
        if call.operation == "ListObjectsV2":
            return [Need("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", (("s3:prefix", p.get("Prefix", "")),))]
        action = S3_ACTIONS[call.operation]
        via = (("kms:ViaService", f"s3.{region}.amazonaws.com"),)
        key_use = "kms:GenerateDataKey" if action == "s3:PutObject" else "kms:Decrypt"
        found = [Need(action, f"arn:aws:s3:::{p['Bucket']}/{p['Key']}")]
        if action == "s3:GetObject":  # a missing key is a 404 only with ListBucket, checked with the key as prefix
            found.append(Need("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", (("s3:prefix", p["Key"]),)))
        return found + ([Need(key_use, kms_key_arn, via)] if action != "s3:DeleteObject" else [])
    if call.service == "ssm" and call.operation == "GetParameter":
        return [Need("ssm:GetParameter", f"arn:aws:ssm:{region}:{account}:parameter/{p['Name'].lstrip('/')}")]
    if call.service == "bedrock-runtime" and call.operation == "InvokeModel":
        model_id, where = p["modelId"], call.region or region
        geography, _, base = model_id.partition(".")
        if base and base in profiles:  # an inference profile: `us.stability...`
            routed = profiles[base][geography.upper()][where]
            found = [Need("bedrock:InvokeModel", f"arn:aws:bedrock:{where}:{account}:inference-profile/{model_id}")]
            found += [Need("bedrock:InvokeModel", f"arn:aws:bedrock:{r}::foundation-model/{base}") for r in routed]
        else:
            base = model_id
            found = [Need("bedrock:InvokeModel", f"arn:aws:bedrock:{where}::foundation-model/{model_id}")]
        product = products.get(base)
        if product:  # a Marketplace product AWS lists, subscribed on first use by the invoking role
            found.append(Need("aws-marketplace:Subscribe", "*", (("aws-marketplace:ProductId", product),)))
            found.append(Need("aws-marketplace:ViewSubscriptions", "*"))
        # (a model without a listed product id is subscribed once by an administrator: docs/models.md)
        return found
    if call.service == "sagemaker-runtime" and call.operation == "InvokeEndpoint":
        return [
            Need(
                "sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{region}:{account}:endpoint/{p['EndpointName'].lower()}"
            )
        ]
    if call.service == "sqs" and call.operation == "SendMessage":  # QueueUrl: .../{account}/{queue name}
        owner, name = p["QueueUrl"].rstrip("/").split("/")[-2:]
        return [Need("sqs:SendMessage", f"arn:aws:sqs:{call.region or region}:{owner}:{name}")]
    raise AssertionError(f"no IAM mapping for {call.service}.{call.operation}: add it here")


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def condition_holds(operator: str, key: str, wanted, context: dict[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists").removeprefix("ForAnyValue:")
    if key not in context:
        return if_exists
    value, patterns = context[key], as_list(wanted)
    if base == "StringEquals":
        return value in patterns
    if base in ("StringLike", "ArnLike"):
        return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)
    raise AssertionError(f"condition operator {operator} is not evaluated here: add it")


def allowed(need: Need, statements: list[dict]) -> bool:
    context = dict(need.context)
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        if not any(fnmatch.fnmatchcase(need.action, action) for action in as_list(statement["Action"])):
            continue
        if not any(fnmatch.fnmatchcase(need.resource, resource) for resource in as_list(statement["Resource"])):
            continue
        conditions = statement.get("Condition", {})
        if all(
            condition_holds(operator, key, wanted, context)
            for operator, pairs in conditions.items()
            for key, wanted in pairs.items()
        ):
            return True
    return False


def unused(statements: list[dict], needs_made: list[Need], ignore: tuple[str, ...] = ()) -> list[str]:
    """The grants no call needed: each (action, resource) of an Allow statement, and each value of its
    conditions, must be matched by at least one of `needs_made` that the statement allows."""
    idle = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        sid = statement.get("Sid", "?")
        for action in as_list(statement["Action"]):
            if action in ignore:
                continue
            for resource in as_list(statement["Resource"]):
                users = [
                    need
                    for need in needs_made
                    if fnmatch.fnmatchcase(need.action, action)
                    and fnmatch.fnmatchcase(need.resource, resource)
                    and allowed(need, [{**statement, "Action": action, "Resource": resource}])
                ]
                if not users:
                    idle.append(f"{sid}: {action} on {resource}")
                    continue
                for operator, pairs in statement.get("Condition", {}).items():
                    for key, wanted in pairs.items():
                        for value in as_list(wanted):
                            one = {**statement, "Action": action, "Resource": resource}
                            one["Condition"] = {operator: {key: value}}
                            if not any(allowed(need, [one]) for need in users):
                                idle.append(f"{sid}: {action} on {resource} when {key} is {value}")
    return idle
