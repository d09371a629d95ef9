"""A key's limits, enforced where the model is called, before anything is spent: the models it may
use, its requests per minute and its budgets (USD per UTC day and per UTC month, at the catalog's list
prices, the same `cost_usd` the jobs record).

- **Budgets** hold under concurrency because the money is *reserved* before the model is called, in one
  state object per key and month, `limits/{key id}/{yyyy-mm}.json`, changed only by S3 conditional
  writes (If-Match / If-None-Match, as the job records are): `{"days": {day: spent}, "spent": month,
  "open": {reservation id: {"usd", "day", "expires"}}}`. A request that would not fit what is spent
  and reserved is a 429 `insufficient_quota` and calls nothing. When the model has answered, the
  reservation is settled to what was made (fewer images, a failure, a cancel: less, or nothing).
  A reservation a crashed function never settled stops counting when it expires (a sync call's
  deadline, an async job's timeout), and the next change to the state (or the sweeper) drops it.
  A reservation is settled in the day and month it was made, so a request that runs across midnight
  is counted once, where it began.
- **Requests per minute**: one counter per key and window, `ratelimit/{key id}/{window}.json`, also a
  conditional write; past it, 429 `rate_limit_exceeded` with Retry-After (the window's end).
- **Models**: a model outside the key's list is a 403 naming `model` and the models it may use.

A key without limits (or a deployment without API keys) is not checked at all: that is a choice
(docs/auth.md). Metrics: `BudgetRefused` (reason: day, month), `BudgetAlmostSpent` when a key passes
80% of a budget, `KeySpend` (USD, by key id) as reservations settle.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from imagegen import aws, bucket, catalog, logs, settings
from imagegen.errors import ApiError

log = logging.getLogger("imagegen")

STATE = "limits/"
RATE = "ratelimit/"
ATTEMPTS = 200  # conditional writes lost to concurrent ones before giving up (50 at once settle in far fewer)
ALMOST = 0.8  # the share of a budget past which BudgetAlmostSpent is emitted
BUDGETS = (("day", "budget_usd_day"), ("month", "budget_usd_month"))  # each period and its limit's name


@dataclass(frozen=True)
class Held:
    """A reservation: whose, in which month's state and day, its id and what it holds."""

    key_id: str
    month: str
    day: str
    id: str
    usd: float

    def share(self, usd: float) -> dict[str, Any]:
        """What a job records of the reservation: the part of it the job settles when it ends."""
        return {"key_id": self.key_id, "month": self.month, "day": self.day, "id": self.id, "usd": round(usd, 6)}


def now() -> datetime:
    return datetime.now(timezone.utc)


def admit(row: catalog.Model, owner: str | None, limits: dict, images: int, hold_seconds: float) -> Held | None:
    """Check a request of `images` images on `row` against the key's limits; reserve its list price
    against the key's budgets for `hold_seconds` (None: nothing to reserve). Raises the 403 or 429."""
    if not owner or not limits:
        return None
    allowed_models(row, limits)
    if limits.get("rpm"):
        count_request(owner, int(limits["rpm"]))
    price = catalog.image_cost(row.name, images).get("cost_usd") or 0
    if not price or all(limits.get(name) is None for _, name in BUDGETS):
        return None
    return reserve(owner, limits, price, hold_seconds)


def allowed_models(row: catalog.Model, limits: dict) -> None:
    names = limits.get("models")
    if not names:
        return
    allowed = [found.name for found in (catalog.find(name) for name in names) if found]
    if row.name not in allowed:
        raise ApiError(
            403,
            "model_not_allowed",
            f"this API key may use {', '.join(allowed) or 'no model'}, not {row.name}",
            "model",
        )


# -- requests per minute -------------------------------------------------------------------------


def count_request(owner: str, rpm: int) -> None:
    window = settings.rate_window_seconds()
    started = time.time()
    slot = int(started // window)
    key = f"{RATE}{owner}/{slot}.json"

    def add(state: dict) -> dict:
        if state.get("count", 0) >= rpm:
            wait = max(1, math.ceil((slot + 1) * window - time.time()))
            logs.metric("RateLimited", 1, reason="rpm")
            raise ApiError(
                429,
                "rate_limit_exceeded",
                f"this API key may make {rpm} requests per {window} s; retry in {wait} s",
                retry_after=wait,
            )
        return {"count": state.get("count", 0) + 1}

    change(key, add)


# -- budgets -------------------------------------------------------------------------------------


def state_key(owner: str, month: str) -> str:
    return f"{STATE}{owner}/{month}.json"


def open_usd(state: dict, at: float, day: str | None = None) -> float:
    """What unexpired reservations hold (on `day`, or in the whole month)."""
    held = state.get("open", {}).values()
    return sum(r["usd"] for r in held if r["expires"] > at and (day is None or r["day"] == day))


def used(state: dict, at: float, day: str) -> dict[str, float]:
    """What is spent and reserved, by period: on `day` ("day") and in the month ("month")."""
    return {
        "day": state.get("days", {}).get(day, 0.0) + open_usd(state, at, day),
        "month": state.get("spent", 0.0) + open_usd(state, at),
    }


def reserve(owner: str, limits: dict, usd: float, hold_seconds: float) -> Held:
    when = now()
    day, month = when.date().isoformat(), when.strftime("%Y-%m")
    held = Held(owner, month, day, uuid.uuid4().hex, round(usd, 6))

    def take(state: dict) -> dict:
        at = time.time()
        state.setdefault("open", {})
        drop_expired(state, at)  # a crashed function's reservation is released here too
        spent_in = used(state, at, day)
        for period, name in BUDGETS:
            budget, spent = limits.get(name), spent_in[period]
            if budget is None:
                continue
            if spent + usd > budget + 1e-9:
                logs.metric("BudgetRefused", 1, reason=period)
                raise ApiError(
                    429,
                    "insufficient_quota",
                    f"this API key's budget is ${budget:g} per {period} (UTC); ${spent:.4f} is spent or reserved "
                    f"and this request needs ${usd:.4f}; it resets at {resets_at(when)[period]}",
                )
            if spent < ALMOST * budget <= spent + usd:
                logs.metric("BudgetAlmostSpent", 1, period=period)
        state["open"][held.id] = {"usd": held.usd, "day": day, "expires": at + hold_seconds}
        return state

    change(state_key(owner, month), take)
    return held


def settle(share: dict | None, made_usd: float) -> None:
    """A job (or a sync request) ended having made `made_usd` of images: its part of the reservation goes,
    what it made is spent. Never raises: the images are made; a reservation S3 refused to release now
    expires instead."""
    if not share:
        return

    def give_back(state: dict) -> dict:
        held = state.setdefault("open", {}).get(share["id"])
        if held is not None:
            held["usd"] = round(held["usd"] - share["usd"], 6)
            if held["usd"] <= 1e-9:
                del state["open"][share["id"]]
        days = state.setdefault("days", {})
        days[share["day"]] = round(days.get(share["day"], 0.0) + made_usd, 6)
        state["spent"] = round(state.get("spent", 0.0) + made_usd, 6)
        return state

    try:
        change(state_key(share["key_id"], share["month"]), give_back)
        if made_usd:
            logs.metric("KeySpend", made_usd, "None", key_id=share["key_id"])
    except Exception as exc:
        log.error("key %s: reservation %s not settled (%s); it expires instead", share["key_id"], share["id"], exc)


def resets_at(when: datetime) -> dict[str, str]:
    """When the day's and the month's budgets begin again after `when`: the next UTC midnight, the next
    first of the month."""
    next_month = (when.replace(day=1) + timedelta(days=32)).replace(day=1).date()
    return {
        "day": f"{(when.date() + timedelta(days=1)).isoformat()}T00:00:00Z",
        "month": f"{next_month.isoformat()}T00:00:00Z",
    }


def status(owner: str | None, limits: dict) -> dict:
    """The key's limits and what is left of its budgets now (GET /v1/usage)."""
    when, at = now(), time.time()
    state = read(state_key(owner, when.strftime("%Y-%m")))[0] if owner else {}
    spent_in = used(state, at, when.date().isoformat())
    found: dict[str, Any] = {"limits": {k: v for k, v in limits.items() if v not in (None, [])}}
    found["spent_or_reserved_usd"] = {period: round(spent, 6) for period, spent in spent_in.items()}
    found["left_usd"] = {
        period: round(max(0.0, limits[name] - spent_in[period]), 6)
        for period, name in BUDGETS
        if limits.get(name) is not None
    }
    found["resets_at"] = resets_at(when)
    return found


def drop_expired(state: dict, at: float) -> int:
    """Drop the reservations past their expiry from `state`; how many there were."""
    stale = [rid for rid, held in state.get("open", {}).items() if held["expires"] <= at]
    for rid in stale:
        del state["open"][rid]
    return len(stale)


def release_expired(month: str) -> int:
    """The sweeper's pass over `month`'s budget states (one listing of limits/, the keys' own objects):
    every reservation past its expiry is dropped, so a crashed function never leaves a key's budget
    blocked (they stop counting at expiry anyway; this clears them). How many were released."""
    released = 0
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.bucket_name(), Prefix=STATE):
        for item in page.get("Contents", []):
            # written only where something expired (a read tells), so a quiet pass writes nothing
            if not item["Key"].endswith(f"/{month}.json") or not drop_expired(read(item["Key"])[0], time.time()):
                continue
            counted: list[int] = []  # the last attempt's count (a lost race decides again)

            def drop(state: dict, counted: list[int] = counted) -> dict:
                counted.append(drop_expired(state, time.time()))
                return state

            change(item["Key"], drop)
            released += counted[-1]
    return released


# -- one object, changed only by conditional writes ------------------------------------------------


def read(key: str) -> tuple[dict, str | None]:
    state, etag = bucket.read_json(key)
    return state or {}, etag


def change(key: str, mutate) -> dict:
    """Apply `mutate` (which may raise to refuse) to the object at `key`, written only if nobody wrote it
    since it was read; on a lost race, read again and decide again (jittered backoff)."""
    for attempt in range(ATTEMPTS):
        state, etag = read(key)
        changed = mutate(json.loads(json.dumps(state)))
        if bucket.write_json(key, changed, etag):
            return changed
        time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** min(attempt, 6))))
    raise ApiError(503, "limits_busy", "this API key's limits are being changed by too many requests at once; retry")
