"""Keys for a team, against `make serve AUTH=api_key` and LocalStack's S3: a budget holds under 50
concurrent requests, a rate limit answers what the openai SDK retries, a model list is a 403, and
GET /v1/usage says the limits and what is left."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import requests

from imagegen import apikeys

pytestmark = pytest.mark.integration


def post(served, key: str, body: dict, prefer: str | None = None) -> requests.Response:
    headers = {"authorization": f"Bearer {key}"} | ({"prefer": prefer} if prefer else {})
    return requests.post(f"{served.url}/v1/images/generations", json=body, headers=headers, timeout=120)


def test_fifty_concurrent_requests_against_room_for_two_images_make_exactly_two(served):
    # GIVEN a key whose day's budget is two SD3.5 images ($0.08 each at list price)
    key, _ = apikeys.mint("budget of two", limits={"budget_usd_day": 0.16, "models": ["sd3.5-large"]})
    # WHEN 50 requests for one image each arrive at once
    with ThreadPoolExecutor(50) as pool:
        answers = list(
            pool.map(lambda _: post(served, key, {"prompt": "a lighthouse", "model": "sd3.5-large"}), range(50))
        )
    # THEN exactly two made an image, and 48 were refused before anything was called
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) == 2 and statuses.count(429) == 48, statuses
    refused = [answer.json()["error"] for answer in answers if answer.status_code == 429]
    assert {error["code"] for error in refused} == {"insufficient_quota"}
    assert all(error["type"] == "rate_limit_error" for error in refused)
    # AND the key's usage never shows more than its budget, and says what is left
    usage = requests.get(f"{served.url}/v1/usage", headers={"authorization": f"Bearer {key}"}, timeout=30).json()
    assert usage["images"] == 2 and usage["cost_usd"] == pytest.approx(0.16)
    assert usage["limits"]["budget_usd_day"] == 0.16 and usage["left_usd"]["day"] == 0


def test_the_openai_sdk_raises_its_typed_errors_and_retries_a_rate_limit_by_itself(served):
    broke, _ = apikeys.mint("no money", limits={"budget_usd_day": 0.01})
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=broke, max_retries=0)
    with pytest.raises(openai.RateLimitError) as quota:
        client.images.generate(prompt="x", model="sd3.5-large")
    assert quota.value.code == "insufficient_quota"
    picky, _ = apikeys.mint("flux only", limits={"models": ["flux-schnell"]})
    with pytest.raises(openai.PermissionDeniedError) as model:
        openai.OpenAI(base_url=f"{served.url}/v1", api_key=picky, max_retries=0).images.generate(
            prompt="x", model="sd3.5-large"
        )
    assert model.value.param == "model" and "flux-schnell" in model.value.message
    # one request per (shortened) window: the second waits for Retry-After, as the SDK does, and succeeds
    slow, _ = apikeys.mint("one a window", limits={"rpm": 1})
    client = openai.OpenAI(base_url=f"{served.url}/v1", api_key=slow, max_retries=3)
    assert client.images.generate(prompt="first", model="sd3.5-large").data
    raw = post(served, slow, {"prompt": "too soon", "model": "sd3.5-large"})
    assert raw.status_code == 429 and raw.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(raw.headers["retry-after"]) <= 2
    assert client.images.generate(prompt="second", model="sd3.5-large").data  # retried by the SDK alone


def test_a_keys_own_cap_on_model_calls_is_lower_than_the_deployments(served):
    key, _ = apikeys.mint("two calls", limits={"max_model_calls": 2})
    answer = post(served, key, {"prompt": "x", "model": "sd3.5-large", "n": 3})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "n"
    assert "at most 2" in answer.json()["error"]["message"]


def test_an_async_jobs_reservation_is_settled_when_it_ends_and_a_canceled_one_costs_nothing(served):
    import time

    from imagegen.jobs import limits

    key, record = apikeys.mint("async budget", limits={"budget_usd_month": 1.0})
    headers = {"authorization": f"Bearer {key}"}

    def open_and_spent() -> tuple[float, float]:
        state = limits.read(limits.state_key(record["id"], limits.now().strftime("%Y-%m")))[0]
        return sum(r["usd"] for r in state.get("open", {}).values()), state.get("spent", 0.0)

    # a FLUX schnell job ($0.003) reserves at once, and settles to its image when the webhook stores it
    job = post(served, key, {"prompt": "a lighthouse", "model": "flux-schnell"}, "respond-async").json()
    assert open_and_spent() == (0.003, 0.0)
    deadline = time.monotonic() + 60
    while (
        requests.get(f"{served.url}/v1/jobs/{job['id']}", headers=headers, timeout=10).json()["status"] != "succeeded"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert open_and_spent() == (0.0, 0.003)
    # a canceled one gives its reservation back and spends nothing
    job = post(served, key, {"prompt": "never mind", "model": "flux-schnell"}, "respond-async").json()
    canceled = requests.post(f"{served.url}/v1/jobs/{job['id']}/cancel", headers=headers, timeout=30)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert open_and_spent() == (0.0, 0.003)
