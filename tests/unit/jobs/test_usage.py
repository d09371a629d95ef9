"""The usage ledger: one entry per priced job, counted once, summed per key and day."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from imagegen import bucket, settings
from imagegen.jobs import records, usage
from imagegen.routes import usage as usage_route
from localdev.server import load_handler
from tests.conftest import FakeContext, get_event

# API key ids (imagegen.apikeys.KEY_ID): the ledger's owners
K1, K2, K9 = "00000000000000a1", "00000000000000a2", "00000000000000a9"


def succeeded(owner=K1, model="stability.sd3-5-large-v1:0", images=2, cost=0.16, day="2026-11-30", **extra):
    job = records.new_job(
        bucket.new_job_id(), provider="bedrock", model=model, status="succeeded", owner=owner, **extra
    )
    job.update(
        images=[{"key": f"images/{n}.png"} for n in range(images)],
        cost_usd=cost,
        updated_at=f"{day}T12:00:00.000+00:00",
    )
    return job


def ledger(aws):
    listed = boto3.client("s3").list_objects_v2(Bucket=settings.bucket_name(), Prefix="usage/")
    return [item["Key"] for item in listed.get("Contents", [])]


def test_a_priced_job_is_recorded_once_however_often_it_is_recorded(aws):
    job = succeeded()
    usage.record(job)
    usage.record(job)  # a webhook delivered again, the sweeper closing its marker
    assert ledger(aws) == [f"usage/{K1}/2026-11-30/{job['id']}~2~0.16~stability.sd3-5-large-v1%3A0"]


def test_nothing_is_recorded_without_a_price_or_images(aws):
    usage.record({**succeeded(), "cost_usd": None})  # SageMaker: billed by the hour
    usage.record({**succeeded(), "status": "failed"})
    assert ledger(aws) == []


def test_creating_and_finishing_jobs_records_their_usage(aws):
    job = records.create(succeeded(owner=K2))  # a sync job: stored succeeded at once
    queued = records.create(
        records.new_job(bucket.new_job_id(), provider="replicate", model="black-forest-labs/flux-schnell", owner=K2)
    )
    assert len(ledger(aws)) == 1
    records.update(queued["id"], lambda j: {**j, "status": "succeeded", "images": [{"key": "x"}], "cost_usd": 0.003})
    keys = ledger(aws)
    assert len(keys) == 2 and any(job["id"] in k for k in keys) and any(queued["id"] in k for k in keys)


def test_summary_per_day_and_model_only_for_that_owner_and_those_days(aws):
    for job in (
        succeeded(day="2026-11-29", cost=0.08, images=1),
        succeeded(day="2026-11-30", cost=0.16),
        succeeded(day="2026-11-30", model="black-forest-labs/flux-schnell", cost=0.003, images=1),
        succeeded(day="2026-12-01", cost=0.08, images=1),
        succeeded(owner=K9, day="2026-11-30", cost=5.0),  # another key
    ):
        usage.record(job)
    names = {"stability.sd3-5-large-v1:0": "sd3.5-large"}
    found = usage.summary(K1, date(2026, 11, 30), date(2026, 11, 30), lambda ref: names.get(ref, ref))
    assert found["jobs"] == 2 and found["images"] == 3 and found["cost_usd"] == 0.163
    (day,) = found["data"]
    assert day["date"] == "2026-11-30"
    assert day["models"] == [
        {"model": "black-forest-labs/flux-schnell", "jobs": 1, "images": 1, "cost_usd": 0.003},
        {"model": "sd3.5-large", "jobs": 1, "images": 2, "cost_usd": 0.16},
    ]
    week = usage.summary(K1, date(2026, 11, 25), date(2026, 12, 1))
    assert [d["date"] for d in week["data"]] == ["2026-11-29", "2026-11-30", "2026-12-01"] and week["cost_usd"] == 0.323
    assert usage.summary(None, date(2026, 11, 25), date(2026, 12, 1))["jobs"] == 0  # no key: its own account


def call(query=None, owner=K1):
    event = get_event("GET /v1/usage", "/v1/usage", queryStringParameters=query)
    event["requestContext"]["authorizer"] = {"lambda": {"key_id": owner}}
    response = load_handler("usage")(event, FakeContext())
    return response["statusCode"], json.loads(response["body"])


def test_the_route_answers_the_callers_own_key_with_catalog_names(aws):
    # GIVEN one job of K1's and three of K9's (different counts and costs, so a mix-up shows)
    usage.record(succeeded(day="2026-11-30"))
    for _ in range(3):
        usage.record(succeeded(owner=K9, day="2026-11-30", cost=5.0))
    day = {"start_date": "2026-11-30", "end_date": "2026-11-30"}
    status, body = call(day)
    assert status == 200 and body["jobs"] == 1 and body["data"][0]["models"][0]["model"] == "sd3.5-large"
    assert body["cost_usd"] == 0.16
    # WHEN K1 asks for K9's ledger by any parameter a route might be tempted to honour
    for name in ("owner", "key", "key_id", "user"):
        status, body = call({**day, name: K9}, owner=K1)
        # THEN K1 still sees its own one job, never K9's three
        assert status in (200, 400) and body.get("jobs", 1) == 1 and body.get("cost_usd", 0.16) == 0.16
    assert call(day, owner=K9)[1]["jobs"] == 3


def test_a_ledger_key_keeps_its_facts_apart_and_only_a_key_id_owns_one(aws):
    # a model reference holding the separator cannot shift the facts
    job = succeeded(model="owner/na~me:1~2")
    usage.record(job)
    (key,) = ledger(aws)
    assert key.count("~") == 3 and usage.parse(key) == ("2026-11-30", job["id"], 2, 0.16, "owner/na~me:1~2")
    # an owner that is not a key id (a path, a wildcard) never names a ledger prefix
    for owner in ("../" + K1, K1 + "/..", "*", "k1", K1.upper()):
        with pytest.raises(ValueError):
            usage.ledger_key(succeeded(owner=owner))
        with pytest.raises(ValueError):
            list(usage.entries(owner, date(2026, 11, 30), date(2026, 11, 30)))


def test_the_route_defaults_to_the_last_seven_days(aws):
    status, body = call()
    assert status == 200 and (date.fromisoformat(body["end_date"]) - date.fromisoformat(body["start_date"])).days == 6


def test_bad_dates_are_400s_naming_the_field(aws):
    for query, param in (
        ({"start_date": "yesterday"}, "start_date"),
        ({"end_date": "2026-02-30"}, "end_date"),
        ({"end_date": "20261130"}, "end_date"),
        ({"start_date": "2026-12-01", "end_date": "2026-11-01"}, "start_date"),
        ({"start_date": "2026-01-01", "end_date": "2026-12-01"}, "start_date"),  # over 31 days
    ):
        status, body = call(query)
        assert status == 400 and body["error"]["param"] == param, (query, body)
    assert usage_route.MAX_DAYS == 31


class RefusingLedger:
    """The S3 client, refusing writes under usage/ (throttled) while `refusing` is set."""

    def __init__(self, client):
        self.client, self.refusing = client, True

    def put_object(self, **kwargs):
        if self.refusing and kwargs["Key"].startswith("usage/"):
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"}}, "PutObject")
        return self.client.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self.client, name)


def test_a_ledger_entry_s3_refused_is_recorded_later_by_the_sweeper(aws, monkeypatch):
    from imagegen import aws as aws_clients
    from imagegen.jobs import sweeper

    s3 = RefusingLedger(aws_clients.client("s3"))
    real_client = aws_clients.client
    monkeypatch.setattr(aws_clients, "client", lambda name, **kw: s3 if name == "s3" else real_client(name, **kw))
    now = records.create(succeeded(owner=K2))  # a sync job: answered, its usage refused
    queued = records.create(records.new_job(bucket.new_job_id(), provider="replicate", model="m", owner=K2))
    records.update(queued["id"], lambda j: {**j, "status": "succeeded", "images": [{"key": "x"}], "cost_usd": 0.003})
    assert ledger(aws) == []
    assert {job_id for job_id, _ in records.open_jobs()} == {now["id"], queued["id"]}  # their markers stay
    s3.refusing = False
    for job_id, _ in records.open_jobs():
        assert sweeper.sweep_job(job_id, datetime.now(timezone.utc)) == "closed_marker"
    assert len(ledger(aws)) == 2 and records.open_jobs() == []
