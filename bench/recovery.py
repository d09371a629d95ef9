"""Webhooks API Gateway throttled: how long until the sweeper finishes their jobs anyway.

The webhook route has its own throttle (`webhook_throttling`, no API key in front of it), so anyone
can use it up and Replicate's deliveries then get 429; Replicate retries for a while and gives up.
The job is not lost: the sweeper (every `sweeper.interval_minutes`) finishes any job open longer
than `sweeper.after_seconds` from the prediction itself. This measures one sweeper pass over N such
jobs (edit handler submits against the fake Replicate, the predictions succeed, no webhook arrives),
against the webhook handler storing the same N outputs, and states the worst-case recovery time:
after_seconds + interval + the pass.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from bench import Figure, median
from bench.local import edit_event, load_handler, png_bytes, replicate_env, webhook_event

JOBS = 20
AFTER_SECONDS, INTERVAL_SECONDS = 300, 300  # Terraform's defaults (sweeper.after_seconds, interval_minutes)


class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def throttled_jobs(fake, edit) -> list[tuple[str, str]]:
    """N submitted jobs whose predictions then succeeded at Replicate, their webhooks never delivered."""
    import json

    made = []
    for _ in range(JOBS):
        answer = json.loads(edit(edit_event(), Context())["body"])
        job_id = answer["jobs"][0]["id"]
        prediction_id = next(p for p in fake.predictions.values() if job_id in p.get("webhook", ""))["id"]
        output = f"{fake.url}/delivery/{prediction_id}/out-0.png"
        fake.outputs[output] = png_bytes(200_000)
        fake.predictions[prediction_id].update(status="succeeded", output=output)
        made.append((job_id, prediction_id))
    return made


def run(ctx) -> list[Figure]:
    from imagegen.jobs import records, sweeper

    passes, deliveries = [], []
    for _ in range(max(3, ctx.runs // 2)):
        with replicate_env() as fake:
            edit = load_handler("edit")
            made = throttled_jobs(fake, edit)
            started = time.perf_counter()
            done = sweeper.sweep(datetime.now(timezone.utc) + timedelta(seconds=AFTER_SECONDS + 1))
            passes.append(time.perf_counter() - started)
            assert done.get("finished_succeeded") == JOBS, done
            assert all(records.get(job_id)["status"] == "succeeded" for job_id, _ in made)
            # the baseline: the same outputs stored by the webhook, had it not been throttled
            again = throttled_jobs(fake, edit)
            webhook = load_handler("replicate_webhook")
            started = time.perf_counter()
            for job_id, prediction_id in again:
                assert (
                    webhook(webhook_event(fake, job_id, prediction_id, png_bytes(200_000)), Context())["statusCode"]
                    == 200
                )
            deliveries.append(time.perf_counter() - started)
    worst = AFTER_SECONDS + INTERVAL_SECONDS + median(passes)
    ctx.notes.append(
        f"recovery: {JOBS} jobs whose webhooks were throttled are finished by one sweeper pass; worst case after "
        f"the prediction ends: after_seconds {AFTER_SECONDS} s + interval {INTERVAL_SECONDS} s + the pass "
        f"= {worst:.0f} s ({worst / 60:.1f} min), typically half the interval less"
    )
    return [
        Figure(
            "recovery",
            f"sweeper pass finishing {JOBS} throttled jobs",
            median(passes) * 1000,
            median(deliveries) * 1000,
            "ms",
            f"the webhook storing the same {JOBS} outputs",
        )
    ]
