"""A key's limits where the model is called: models, requests per window, budgets reserved before the
money is spent and settled to what was made (moto's S3; the conditional writes as S3 makes them)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import boto3
import pytest

from imagegen import catalog, settings
from imagegen.errors import ApiError
from imagegen.jobs import limits

SD35 = catalog.get("sd3.5-large")  # $0.08 an image
FLUX = catalog.get("flux-schnell")
KEY = "00000000000000b1"


def state(month: str | None = None) -> dict:
    month = month or datetime.now(timezone.utc).strftime("%Y-%m")
    body = boto3.client("s3").get_object(Bucket=settings.bucket_name(), Key=f"limits/{KEY}/{month}.json")["Body"]
    return json.loads(body.read())


def admit(limits_: dict, images: int = 1, row=SD35, hold: float = 60):
    return limits.admit(row, KEY, limits_, images, hold)


def test_a_budget_is_reserved_before_the_call_and_a_request_past_it_is_a_429(aws):
    budget = {"budget_usd_day": 0.16}  # two SD3.5 images
    first, second = admit(budget), admit(budget)
    assert first.usd == second.usd == 0.08
    with pytest.raises(ApiError) as refused:
        admit(budget)
    error = refused.value
    assert (error.status, error.code) == (429, "insufficient_quota")
    assert "$0.16 per day" in error.message and "$0.1600 is spent or reserved" in error.message
    assert "resets at" in error.message and error.message.endswith("T00:00:00Z")


def test_the_budgets_reset_at_the_next_utc_midnight_and_the_next_first_of_the_month(aws, monkeypatch):
    monkeypatch.setattr(limits, "now", lambda: datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc))
    budget = {"budget_usd_day": 1.0, "budget_usd_month": 0.08}
    admit(budget)
    with pytest.raises(ApiError) as refused:
        admit(budget)
    assert "per month (UTC)" in refused.value.message
    assert refused.value.message.endswith("it resets at 2027-01-01T00:00:00Z")
    monkeypatch.setattr(limits, "now", lambda: datetime(2026, 11, 15, 8, 0, tzinfo=timezone.utc))
    found = limits.status(KEY, budget)
    assert found["resets_at"] == {"day": "2026-11-16T00:00:00Z", "month": "2026-12-01T00:00:00Z"}
    assert found["left_usd"] == {"day": 1.0, "month": 0.08}  # November's state is empty


def test_settling_to_what_was_made_gives_the_rest_back(aws):
    budget = {"budget_usd_month": 0.16}
    held = admit(budget, images=2)  # both images reserved
    limits.settle(held.share(held.usd), 0.08)  # one was made
    assert state()["spent"] == 0.08 and state()["open"] == {}
    admit(budget)  # room for the one not made
    with pytest.raises(ApiError):
        admit(budget)


def test_a_job_settles_its_part_and_nothing_made_costs_nothing(aws):
    budget = {"budget_usd_day": 1.0}
    held = admit(budget, images=4)
    for _ in range(3):
        limits.settle(held.share(0.08), 0.08)
    limits.settle(held.share(0.08), 0.0)  # a failed or canceled job: nothing made
    found = state()
    assert found["open"] == {} and found["spent"] == pytest.approx(0.24)


def test_a_reservation_is_settled_in_the_day_it_was_made_even_past_midnight(aws, monkeypatch):
    budget = {"budget_usd_day": 0.08}
    monkeypatch.setattr(limits, "now", lambda: datetime(2026, 12, 2, 23, 59, 59, tzinfo=timezone.utc))
    held = admit(budget)
    monkeypatch.setattr(limits, "now", lambda: datetime(2026, 12, 3, 0, 0, 1, tzinfo=timezone.utc))
    limits.settle(held.share(held.usd), 0.08)  # the job ended after midnight
    found = state("2026-12")
    assert found["days"] == {"2026-12-02": 0.08}  # counted where it began, once
    assert admit(budget).day == "2026-12-03"  # the new day has its whole budget


def test_a_reservation_a_crashed_function_left_expires_and_is_released(aws):
    budget = {"budget_usd_day": 0.08}
    admit(budget, hold=0.001)  # never settled
    import time

    time.sleep(0.01)
    assert admit(budget).usd == 0.08  # the stale one no longer counts
    assert len(state()["open"]) == 1  # and was dropped


def test_requests_past_the_keys_rate_are_429_with_the_windows_end(aws, monkeypatch):
    monkeypatch.setenv("RATE_WINDOW_SECONDS", "60")
    for _ in range(2):
        assert admit({"rpm": 2}) is None  # no budget: nothing reserved
    with pytest.raises(ApiError) as refused:
        admit({"rpm": 2})
    assert (refused.value.status, refused.value.code) == (429, "rate_limit_exceeded")
    assert 1 <= int(refused.value.headers["retry-after"]) <= 60


def test_a_model_outside_the_keys_list_is_a_403_naming_model(aws):
    with pytest.raises(ApiError) as refused:
        admit({"models": ["flux-schnell", "stable-diffusion-3.5-large"]}, row=catalog.get("stable-image-ultra"))
    assert (refused.value.status, refused.value.param) == (403, "model")
    assert "flux-schnell, sd3.5-large" in refused.value.message
    assert admit({"models": ["stable-diffusion-3.5-large"]}) is None  # an alias names its model


def test_a_key_without_limits_or_a_deployment_without_keys_is_not_checked(aws):
    assert limits.admit(SD35, None, {"budget_usd_day": 0.0001}, 1, 60) is None
    assert limits.admit(SD35, KEY, {}, 1, 60) is None


def test_status_says_the_limits_and_what_is_left(aws):
    budget = {"budget_usd_day": 1.0, "budget_usd_month": 10.0, "rpm": 30}
    held = admit(budget, images=2)
    limits.settle(held.share(held.usd), 0.08)
    found = limits.status(KEY, budget)
    assert found["limits"] == budget
    assert found["left_usd"] == {"day": 0.92, "month": 9.92}
    assert found["spent_or_reserved_usd"] == {"day": 0.08, "month": 0.08}


def test_the_sweeper_releases_what_a_crashed_function_left_reserved(aws):
    from imagegen.jobs import sweeper

    budget = {"budget_usd_day": 0.16}
    admit(budget, hold=600)  # one still running
    admit(budget, hold=0.001)  # a function that died before it settled (made last: nothing else drops it)
    import time

    time.sleep(0.01)
    done = sweeper.sweep()
    assert done.get("released_reservation") == 1
    assert len(state()["open"]) == 1  # the live one stays
