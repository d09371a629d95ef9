"""The operator's key command (scripts/keys.py, behind make api-key and make keys) against LocalStack:
create with limits prints the key once, list shows limits and spend, set changes limits without a new
key, revoke ends it; make api-key takes the documented names."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from imagegen import apikeys
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def keys(bucket: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/keys.py", "--bucket", bucket, *args],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_list_set_show_revoke(bucket):
    made = keys(bucket, "create", "--name", "team-a", "--days", "30", "--budget-usd-day", "5", "--rpm", "30",
                "--models", "stable-diffusion-3.5-large,flux-schnell")  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert re.fullmatch(r"igk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", key)  # the key alone on stdout, once
    key_id = key.split("_")[1]
    record = apikeys.read(key_id)
    assert record["limits"] == {"budget_usd_day": 5.0, "rpm": 30, "models": ["sd3.5-large", "flux-schnell"]}
    listed = keys(bucket, "list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(key_id))
    assert "team-a" in row and "budget_usd_day=5.0" in row and "spent $0.0000 today" in row and key not in listed.stdout
    changed = keys(bucket, "set", key_id, "--budget-usd-month", "50", "--rpm", "0")
    assert changed.returncode == 0, changed.stderr
    assert apikeys.read(key_id)["limits"] == {"budget_usd_day": 5.0, "models": ["sd3.5-large", "flux-schnell"],
                                             "budget_usd_month": 50.0}  # fmt: skip
    assert apikeys.verify(f"Bearer {key}").allowed  # the same key, new limits
    shown = keys(bucket, "show", key_id)
    assert '"left_usd"' in shown.stdout and "sha256" not in shown.stdout
    assert keys(bucket, "revoke", key_id).returncode == 0 and not apikeys.verify(f"Bearer {key}").allowed
    refused = keys(bucket, "create", "--name", "x", "--models", "no-such-model")
    assert refused.returncode == 1 and "not a model of the catalog" in refused.stderr


def test_make_api_key_takes_the_documented_names(bucket):
    ran = subprocess.run(
        ["make", "-s", "api-key", "NAME=me", "DAYS=90", "BUDGET_USD_DAY=5", "BUDGET_USD_MONTH=50", "RPM=30",
         "MODELS=sd3.5-large,flux-schnell"],
        cwd=ROOT, env={**os.environ, "BUCKET_NAME": bucket}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    key_id = ran.stdout.strip().split("_")[1]
    assert apikeys.read(key_id)["limits"] == {
        "budget_usd_day": 5.0, "budget_usd_month": 50.0, "rpm": 30, "models": ["sd3.5-large", "flux-schnell"]
    }  # fmt: skip


def test_a_new_key_carries_the_deployments_defaults_unless_told_otherwise(bucket):
    import json
    import uuid

    import boto3

    parameter = f"/imagegen-test-{uuid.uuid4().hex[:8]}/api-keys/defaults"  # what Terraform's `keys` writes
    boto3.client("ssm").put_parameter(
        Name=parameter, Type="SecureString", Value=json.dumps({"rpm": 10, "budget_usd_month": 20, "expires_days": 30})
    )
    made = keys(bucket, "--defaults", parameter, "create", "--name", "defaulted", "--rpm", "60")
    assert made.returncode == 0, made.stderr
    record = apikeys.read(made.stdout.strip().split("_")[1])
    assert record["limits"] == {"rpm": 60, "budget_usd_month": 20} and record["expires_at"]
