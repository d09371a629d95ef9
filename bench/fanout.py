"""Fan-out: an 8-image edit against a 1-image edit, the fake Replicate taking `--rtt` (300 ms)
per create call. The edit function submits one prediction per image, at most 4 at once (a request's
calls in flight are bounded: its memory and its burst against the provider's quota), so 8 images
cost about two round trips, not eight."""

from __future__ import annotations

import time

from bench import Figure, check, median
from bench.local import edit_event, load_handler, replicate_env

TARGET = "<= 2.5x"


def run(ctx) -> list[Figure]:
    edit = load_handler("edit")
    samples: dict[int, list[float]] = {1: [], 8: []}
    with replicate_env(latency=ctx.rtt):
        edit(edit_event())  # warm
        for _ in range(ctx.runs):
            for count in samples:
                request = edit_event(count)
                start = time.perf_counter()
                response = edit(request)
                samples[count].append(time.perf_counter() - start)
                assert response["statusCode"] == 202, response
    one, eight = median(samples[1]) * 1000, median(samples[8]) * 1000
    return [
        Figure(
            "fan-out",
            f"8-image edit, {ctx.rtt * 1000:.0f} ms per submit",
            eight,
            one,
            "ms",
            "1-image edit",
            TARGET,
            check(eight / one, TARGET),
        )
    ]
