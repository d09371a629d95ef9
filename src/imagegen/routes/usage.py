"""`GET /v1/usage`: what the caller's own API key spent, per day, at the catalog's list prices.

Query: `start_date` and `end_date` (YYYY-MM-DD, UTC, both included; default the last 7 days up to
today), at most 31 days. Only the caller's own key is ever summed: there is no parameter that names
another. Without API keys the deployment is one account and this sums every job.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from imagegen import catalog
from imagegen.api.events import Request, json_response
from imagegen.errors import invalid
from imagegen.jobs import limits, usage

DEFAULT_DAYS = 7
MAX_DAYS = 31


def day(request: Request, field: str, default: date) -> date:
    value = request.query.get(field)
    if value is None:
        return default
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise invalid(field, f"{value[:40]!r} is not a date (YYYY-MM-DD)")


def model_name(ref: str) -> str:
    row = catalog.find(ref)
    return row.name if row else ref


def handle(request: Request) -> dict:
    today = datetime.now(timezone.utc).date()
    end = day(request, "end_date", today)
    start = day(request, "start_date", end - timedelta(days=DEFAULT_DAYS - 1))
    if start > end:
        raise invalid("start_date", f"{start} is after end_date {end}")
    if (end - start).days >= MAX_DAYS:
        raise invalid("start_date", f"{start}..{end} is over {MAX_DAYS} days; ask for fewer")
    answer = usage.summary(request.owner, start, end, model_name)
    if request.limits:  # the key's limits, and what is left of its budgets now
        answer |= limits.status(request.owner, request.limits)
    return json_response(200, answer)
