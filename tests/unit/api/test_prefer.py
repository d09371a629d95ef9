"""RFC 7240 preferences: respond-async asks for a job; wait[=N] for a model that answers later; neither,
such a model is waited for (so clients that know nothing of jobs get their images)."""

from __future__ import annotations

import pytest

from imagegen.api import prefer
from imagegen.api.events import Request


def request(header: str | None) -> Request:
    headers = {"prefer": header} if header else {}
    return Request(method="POST", path="/", route_key="POST /", headers=headers, query={}, path_params={}, body=b"")


@pytest.mark.parametrize(
    ("header", "asynchronous", "wait", "applied"),
    [
        (None, False, 20, {}),  # no preference: the longest wait, and nothing to say was applied
        ("respond-async", True, None, {"preference-applied": "respond-async"}),
        ("wait=5", False, 5, {"preference-applied": "wait=5"}),
        ("respond-async, wait=3", True, 3, {"preference-applied": "respond-async, wait=3"}),
        ("Respond-Async", True, None, {"preference-applied": "respond-async"}),
        ("wait=999", False, 20, {"preference-applied": "wait=20"}),  # capped at PREFER_WAIT_MAX_SECONDS
        ("handling=lenient", False, 20, {}),  # a preference we ignore
    ],
)
def test_preferences(header, asynchronous, wait, applied, monkeypatch):
    monkeypatch.delenv("PREFER_WAIT_MAX_SECONDS", raising=False)
    sent = request(header)
    assert prefer.respond_async(sent) is asynchronous
    assert prefer.wait_for_later(sent) == wait
    assert prefer.applied(sent, wait, queued=True) == applied
