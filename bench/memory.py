"""Peak RSS growth while the webhook stores one 64 MB output from the fake Replicate in LocalStack S3.

Each run is a fresh process: it loads the handler, stores a small output first (clients and the
secret made, as in a warm Lambda), then the 64 MB one; the figure is the growth of its peak RSS
(VmHWM) across that second call. Baseline: the same in the naive way the source systems did it,
`requests.get(url).content` then `put_object(Body=...)` (the whole file in memory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from bench import ROOT, Figure, check, median
from bench.local import png_bytes, replicate_env, webhook_event

SIZE = 64 * 1024 * 1024
TARGET_MB = 16

CHILD = """
import base64, json, sys, uuid
sys.path[:0] = {paths!r}
from bench.local import load_handler

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

mode, warm, big = sys.argv[1], *(json.load(open(p)) for p in sys.argv[2:4])
if mode == "ours":
    call = load_handler("replicate_webhook")
else:
    import boto3, requests
    s3 = boto3.client("s3")

    def call(event):  # the source systems' way: the whole file in memory, then one put
        prediction = json.loads(base64.b64decode(event["body"]))
        data = requests.get(prediction["output"], timeout=60).content
        s3.put_object(Bucket={bucket!r}, Key=f"naive/{{uuid.uuid4().hex}}.png", Body=data, ContentType="image/png")
        return {{"statusCode": 200}}

assert call(warm)["statusCode"] == 200
before = hwm()
answer = call(big)
assert answer["statusCode"] == 200, answer
print(json.dumps({{"growth": hwm() - before}}))
"""


def new_job(prediction_id: str) -> str:
    from imagegen import bucket as storage
    from imagegen.jobs import records

    job_id = storage.new_job_id()
    records.create(
        records.new_job(job_id, provider="replicate", model="bench/x", status="running", prediction_id=prediction_id)
    )
    return job_id


def one_run(fake, mode: str, output: bytes, tmp: Path) -> int:
    files = []
    for name, data in (("warm", png_bytes(4096)), ("big", output)):
        prediction_id = uuid.uuid4().hex[:26]
        event = webhook_event(fake, new_job(prediction_id), prediction_id, data)
        path = tmp / f"{name}.json"
        path.write_text(json.dumps(event))
        files.append(str(path))
    code = CHILD.format(paths=[str(ROOT / "src"), str(ROOT)], bucket=os.environ["BUCKET_NAME"])
    out = subprocess.run([sys.executable, "-c", code, mode, *files], capture_output=True, text=True, env=os.environ)
    if out.returncode:
        raise RuntimeError(f"memory run ({mode}) failed: {out.stderr[-2000:]}")
    fake.outputs.clear()
    stored = [item["Size"] for prefix in ("images/", "naive/") for item in listing(prefix)]
    if len(output) not in stored:
        raise RuntimeError(f"memory run ({mode}): the {len(output)} byte output was not stored ({stored})")
    clean(("images/", "naive/"))
    return json.loads(out.stdout.strip().splitlines()[-1])["growth"]


def listing(prefix: str) -> list[dict]:
    import boto3

    return boto3.client("s3").list_objects_v2(Bucket=os.environ["BUCKET_NAME"], Prefix=prefix).get("Contents", [])


def clean(prefixes) -> None:
    """Drop the stored 64 MB objects after each run: LocalStack is shared and keeps them."""
    import boto3

    for prefix in prefixes:
        if items := listing(prefix):
            boto3.client("s3").delete_objects(
                Bucket=os.environ["BUCKET_NAME"], Delete={"Objects": [{"Key": i["Key"]} for i in items]}
            )


def run(ctx) -> list[Figure]:
    output = png_bytes(SIZE)
    growth: dict[str, list[int]] = {"ours": [], "naive": []}
    with replicate_env() as fake, tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        for _ in range(ctx.runs):
            for mode in growth:
                growth[mode].append(one_run(fake, mode, output, Path(tmp)))
    mib = 1024 * 1024
    ours, naive = median(growth["ours"]) / mib, median(growth["naive"]) / mib
    ctx.verdicts.append(
        (f"webhook peak RSS growth storing 64 MB <= {TARGET_MB} MB", ours <= TARGET_MB, f"{ours:.1f} MB")
    )
    return [
        Figure(
            "memory",
            "webhook peak RSS growth, 64 MB output",
            ours,
            naive,
            "MB",
            "read-it-all (requests .content + put_object)",
            "<= 0.25x",
            check(ours / naive, "<= 0.25x"),
            {"samples_bytes": growth, "target_mb": TARGET_MB},
        )
    ]
