"""`make bench`: cold-start and hot-path costs, printed as ratios against a baseline from the same run.

No absolute thresholds and no timed tests: every number is relative to a baseline
measured a moment earlier on the same machine, so it means the same on a slow laptop
and a fast CI box.

1. Cold start: a fresh interpreter importing each function's handler (as a Lambda cold
   start does) against a fresh interpreter that imports nothing of ours.
2. Webhook verification: the `replicate` package's `webhooks.validate` against the
   project's stdlib verifier, if it has one, and against a bare HMAC-SHA256.
3. Job ids/keys: generating a key against generating a bare uuid4.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "imagegen"), str(ROOT)]
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def median_seconds(func, runs: int = RUNS) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def per_call(func, calls: int) -> float:
    return median_seconds(lambda: [func() for _ in range(calls)]) / calls


def fresh_interpreter(code: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'imagegen'}:{ROOT}", "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


def row(name: str, seconds: float, baseline: float) -> None:
    print(f"  {name:<46} {seconds * 1000:9.3f} ms   {seconds / baseline:7.2f}x")


def bench_cold_start() -> None:
    print("cold start: fresh interpreter importing the handler (ratio to `import json`)")
    baseline = median_seconds(lambda: fresh_interpreter("import json"))
    row("baseline: python -c 'import json'", baseline, baseline)
    for handler in sorted((ROOT / "functions").glob("*/handler.py")):
        code = (
            "import importlib.util as u; "
            f"s = u.spec_from_file_location('h', {str(handler)!r}); m = u.module_from_spec(s); s.loader.exec_module(m)"
        )
        row(f"function {handler.parent.name}", median_seconds(lambda c=code: fresh_interpreter(c)), baseline)
    row("import replicate (the SDK)", median_seconds(lambda: fresh_interpreter("import replicate")), baseline)


def bench_webhook_verification() -> None:
    print("webhook signature check, per call (ratio to a bare HMAC-SHA256)")
    secret_bytes = os.urandom(24)
    secret = "whsec_" + base64.b64encode(secret_bytes).decode()
    body = '{"id": "p1", "status": "succeeded", "output": ["https://replicate.delivery/x/out.png"]}' * 4
    webhook_id, timestamp = "msg_1", str(int(time.time()))
    digest = hmac.new(secret_bytes, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }

    def bare():
        hmac.compare_digest(
            hmac.new(secret_bytes, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest(), digest
        )

    baseline = per_call(bare, 2000)
    row("baseline: hmac.new + compare_digest", baseline, baseline)
    import replicate
    from replicate.webhook import WebhookSigningSecret

    key = WebhookSigningSecret(key=secret)
    row(
        "replicate.webhooks.validate",
        per_call(lambda: replicate.webhooks.validate(headers=headers, body=body, secret=key, tolerance=300), 2000),
        baseline,
    )
    try:
        from imagegen import webhooks
    except ImportError:
        return
    verify = getattr(webhooks, "verify_signature", None)
    if verify is not None:
        row("imagegen.webhooks.verify_signature", per_call(lambda: verify(headers, body, secret), 2000), baseline)


def bench_keys() -> None:
    import uuid
    from datetime import datetime, timezone

    from imagegen import storage

    print("unique image keys, per key (ratio to uuid.uuid4())")
    baseline = per_call(uuid.uuid4, 20000)
    row("baseline: uuid.uuid4()", baseline, baseline)
    now = datetime.now(timezone.utc)
    row(
        "storage.image_key(new_job_id(), ...)",
        per_call(lambda: storage.image_key(storage.new_job_id(), 0, "image/png", now), 20000),
        baseline,
    )


if __name__ == "__main__":
    print(f"imagegen bench ({RUNS} runs each, medians; Python {sys.version.split()[0]})")
    bench_cold_start()
    bench_webhook_verification()
    bench_keys()
