"""The Lambda authorizer never says yes when it cannot read the key's record.

API Gateway caches an authorizer's "yes" (auth.cache_seconds): a yes given while S3 failed would let
a revoked or unknown key through for that long. So an S3 error is raised (API Gateway answers 500 and
caches nothing), never turned into an allowed request.
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from imagegen import apikeys
from imagegen import aws as clients
from localdev.server import load_handler
from tests.conftest import FakeContext


def event(key: str) -> dict:
    header = f"Bearer {key}"
    return {"version": "2.0", "type": "REQUEST", "routeKey": "POST /v1/images/generations",
            "identitySource": [header], "headers": {"authorization": header}}  # fmt: skip


def test_a_minted_key_is_allowed_with_its_id(aws):
    key, record = apikeys.mint("dana")
    answer = load_handler("authorizer")(event(key), FakeContext())
    assert answer == {"isAuthorized": True, "context": {"key_id": record["id"], "key_name": "dana", "limits": "{}"}}


@pytest.mark.parametrize(
    "failure",
    [
        ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject"),
        ClientError({"Error": {"Code": "InternalError", "Message": "S3 is down"}}, "GetObject"),
        ClientError({"Error": {"Code": "SlowDown", "Message": "throttled"}}, "GetObject"),
        EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com"),
    ],
    ids=["access-denied", "internal-error", "slow-down", "unreachable"],
)
def test_when_s3_fails_the_authorizer_raises_and_never_allows(aws, monkeypatch, failure):
    # GIVEN a valid key, and S3 failing the read of its record
    key, _ = apikeys.mint("erin")

    def broken(**_):
        raise failure

    monkeypatch.setattr(clients.client("s3"), "get_object", broken)  # the cached client the code uses
    # WHEN API Gateway asks the authorizer THEN it raises (a 500, nothing cached): never isAuthorized
    with pytest.raises(type(failure)):
        load_handler("authorizer")(event(key), FakeContext())
