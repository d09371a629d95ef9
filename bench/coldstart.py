"""Cold start per function, laid out the way Lambda lays it out, against a seed-style handler.

/var/task = the function zip unpacked, /opt/python = every layer unpacked (imagegen, awssdk: the
pinned botocore, vendor, analysis), /var/runtime = the runtime's own boto3 (installed here once, for
cp312, into build/, and compiled as the runtime ships it); it comes after the layers, as on Lambda.
A fresh `python3.12 -B -I` per run (-B: Lambda's file system is read-only, nothing is written back;
what is not shipped as bytecode compiles at every cold start) imports the handler module: that is
the handler's INIT. Then it answers its first request, against LocalStack and the offline fakes:
clients are made on first use, so INIT alone flatters us; "INIT + first request" is what the first
caller waits for.

Baseline: what a user would run instead, and not with our handicaps: the seed systems' handler
(boto3 client made at import, then one S3 GetObject of the job record: a 404 here) on the runtime's
own precompiled boto3 alone, no layer. Also listed: every third-party package and imagegen module a
function imports at INIT that it does not use (table USES below).
"""

from __future__ import annotations

import base64
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench import ROOT, Figure, check, median

PY312 = os.environ.get("LAMBDA_PYTHON") or str(next(Path.home().glob(".pyenv/versions/3.12.*/bin/python3.12"), ""))
RUNTIME_DIR = ROOT / "build" / "bench-runtime"
SEED_HANDLER = """
import json, os
import boto3
from botocore.exceptions import ClientError

s3 = boto3.client("s3")  # at import, as the seed systems did


def handler(event, context):
    key = "jobs/" + (event.get("pathParameters") or {}).get("id", "0" * 32) + ".json"
    try:
        body = s3.get_object(Bucket=os.environ["BUCKET_NAME"], Key=key)["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchKey":
            raise
        return {"statusCode": 404, "body": json.dumps({"error": "not found"})}
    return {"statusCode": 200, "body": body.decode()}
"""

# Third-party distributions, by the top-level module names they bring in.
FAMILIES = {
    "boto3": {"boto3", "s3transfer"},  # boto3's own layer over botocore: no function needs it
    "botocore": {"botocore", "jmespath", "dateutil", "urllib3", "six"},
    "replicate": {"replicate", "httpx", "httpcore", "pydantic", "pydantic_core", "anyio", "h11", "sniffio"},
    "requests": {"requests", "charset_normalizer"},
    "multipart": {"multipart"},
}
# What each function uses, at INIT or per request. A function missing here is reported as "not
# declared" rather than judged; a module outside its set is reported as unused there.
BASE = {"botocore", *(f"imagegen.{m}" for m in ("api", "api.events", "errors", "settings", "logs", "aws", "routes"))}
# (records adds each job that finishes with a price to the usage ledger: jobs.usage, stdlib only)
JOB = {*BASE, *(f"imagegen.{m}" for m in ("bucket", "jobs", "jobs.records", "jobs.usage", "api.answers", "apikeys"))}
RUN = {*JOB, *(f"imagegen.{m}" for m in ("catalog", "orders", "providers", "jobs.run", "jobs.waiting", "jobs.limits"))}
# the functions that end jobs settle a limited key's reservation (jobs.limits, lazily: when a job has one)
ENDS = {"imagegen.jobs.limits", "imagegen.catalog"}
RUN |= {*(f"imagegen.{m}" for m in ("api.fields", "api.prefer", "images", "images.formats")), "replicate"}
USES = {
    "get_job": {*JOB, "imagegen.routes.get_job"},
    "cancel_job": {*JOB, *ENDS, "replicate", "imagegen.routes.cancel_job", "imagegen.jobs.cancel"},
    # the outputs' cost at list price: the catalog
    "replicate_webhook": {*JOB, "imagegen.routes.replicate_webhook", "imagegen.api.signatures", "imagegen.jobs.outputs"}
    | {"imagegen.images", "imagegen.images.formats", "imagegen.catalog"},
    "sweeper": {*JOB, *ENDS, "replicate", "imagegen.routes.sweeper", "imagegen.jobs.sweeper", "imagegen.jobs.outputs"}
    | {"imagegen.images", "imagegen.images.formats", "imagegen.catalog"},
    "generate": {*RUN, "imagegen.routes.generate"},
    # Bedrock edits now, Replicate models' forms, masks (Pillow), multipart forms
    "edit": {*RUN, "multipart", "imagegen.routes.edit", "imagegen.api.forms", "imagegen.providers.replicate"}
    | {"imagegen.images.fetch"}  # OpenAI's JSON edits: image URLs fetched here
    | {"imagegen.images.masks", "imagegen.images.pillow", "imagegen.images.sizing"},
    "authorizer": {*BASE, "imagegen.apikeys", "imagegen.bucket", "imagegen.routes.authorizer"},
    "models": {*BASE, "imagegen.catalog", "imagegen.routes.models"} - {"botocore", "imagegen.aws"},
    "usage": {
        *BASE,
        "imagegen.routes.usage",
        "imagegen.jobs",
        "imagegen.jobs.usage",
        "imagegen.catalog",
        "imagegen.jobs.limits",
    }
    | {"imagegen.bucket", "imagegen.apikeys"},  # the ledger's owner is a key id; entries are written with put_new
    "web": {*BASE, "imagegen.routes.web"} - {"botocore", "imagegen.aws"},
    "analyze": {*BASE, "multipart", "imagegen.routes.analyze", "imagegen.analysis", "imagegen.analysis.models"}
    | {*(f"imagegen.{m}" for m in ("api.fields", "api.forms", "bucket", "orders", "images", "images.fetch"))}
    | {"imagegen.images.formats"},
}
# The first caller's wait against the seed-style handler: under 0.8x of it.
TARGETS = {"get_job": "< 0.8x"}

PROBE = """
import json, sys, time
start = time.perf_counter()
sys.path[:0] = {paths!r}
import handler
init = time.perf_counter() - start
modules = sorted(sys.modules)

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "bench", 512, "bench"
    def get_remaining_time_in_millis(self):
        return 30000

answer = handler.handler(json.load(open(sys.argv[1])), Context())
first = time.perf_counter() - start
status = answer.get("statusCode", answer.get("isAuthorized")) if isinstance(answer, dict) else None
print(json.dumps({{"init": init, "first": first, "status": status, "modules": modules}}))
"""


def first_requests() -> dict[str, tuple[dict, object]]:
    """Each function's first request (what makes its clients) and the answer it must give."""
    from bench import local

    image = local.png_bytes(2048)
    edit_body = json.dumps({"image": base64.b64encode(image).decode(), "prompt": "as a watercolour"})
    missing = {"id": "0" * 32}
    bad_key = "Bearer igk_0123456789abcdef_" + "x" * 43
    return {
        "generate": (local.event("POST", "/v1/images/generations", "POST /v1/images/generations",
                                 json.dumps({"prompt": "a lighthouse"})), 201),
        "edit": (local.event("POST", "/v1/images/edits", "POST /v1/images/edits", edit_body), 201),
        "get_job": (local.event("GET", "/v1/jobs/x", "GET /v1/jobs/{id}", params=missing), 404),
        "cancel_job": (local.event("POST", "/v1/jobs/x/cancel", "POST /v1/jobs/{id}/cancel", params=missing), 404),
        "replicate_webhook": (local.event("POST", "/v1/webhooks/replicate", "POST /v1/webhooks/replicate", "{}",
                                          query={"job_id": "0" * 32}), 401),
        "sweeper": ({"source": "aws.events"}, None),
        "authorizer": ({"type": "REQUEST", "routeKey": "POST /v1/images/edits", "identitySource": [bad_key],
                        "headers": {"authorization": bad_key}}, False),
        "models": (local.event("GET", "/v1/models", "GET /v1/models"), 200),
        "usage": (local.event("GET", "/v1/usage", "GET /v1/usage"), 200),
        "web": (local.event("GET", "/", "GET /"), 200),
        "analyze": (local.event("POST", "/v1/images/classifications", "POST /v1/images/classifications",
                                json.dumps({"image": base64.b64encode(image).decode()})), 501),
    }  # fmt: skip


def ensure_runtime() -> Path:
    """boto3 as the Lambda runtime has it, for cp312, compiled as the runtime ships it."""
    marker = RUNTIME_DIR / ".compiled"
    if not marker.exists():
        shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"),
                *("--platform", f"manylinux2014_{platform.machine()}", "--implementation", "cp"),
                *("--python-version", "3.12"),
                *("--only-binary=:all:", "--target", str(RUNTIME_DIR), "boto3"),
            ],
            check=True,
        )
        subprocess.run(
            [PY312, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(RUNTIME_DIR)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        marker.touch()
    return RUNTIME_DIR


def unpack(zip_path: Path, target: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)


def layout(function: str, root: Path, seed: bool) -> list[str]:
    """Unpack one function the way Lambda does (or the seed-style handler alone); its sys.path entries."""
    task, opt = root / "var" / "task", root / "opt"
    task.mkdir(parents=True)
    if seed:
        (task / "handler.py").write_text(SEED_HANDLER)
        return [str(task), str(ensure_runtime())]
    unpack(ROOT / "dist" / "functions" / f"{function}.zip", task)
    for layer in sorted((ROOT / "dist" / "layers").glob("*.zip")):
        unpack(layer, opt)
    return [str(task), str(opt / "python"), str(ensure_runtime())]


def probe(paths: list[str], env: dict, event_file: Path, expected: object) -> tuple[float, float, float, list[str]]:
    """(import seconds, whole process seconds, import + first request seconds, modules) from one fresh
    interpreter; the first request must give its expected answer."""
    start = time.perf_counter()
    out = subprocess.run(
        [PY312, "-B", "-I", "-c", PROBE.format(paths=paths), str(event_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"cold start probe failed: {out.stderr[-2000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if expected is not None and result["status"] != expected:
        raise RuntimeError(f"first request answered {result['status']}, not {expected}: {out.stderr[-2000:]}")
    return result["init"], wall, result["first"], result["modules"]


def unused(function: str, modules: list[str]) -> list[str] | None:
    uses = USES.get(function)
    if uses is None:
        return None
    found = []
    tops = {name.split(".")[0] for name in modules}
    for family, names in FAMILIES.items():
        if tops & names and family not in uses:
            found.append(family)
    found += [m for m in modules if m.startswith("imagegen.") and m not in uses]
    return found


def run(ctx) -> list[Figure]:
    if not PY312 or not Path(PY312).exists():
        raise SystemExit("cold start: Lambda's Python 3.12 is needed (set LAMBDA_PYTHON)")
    version = subprocess.run([PY312, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True)
    ctx.notes.append(f"cold start: Python {version.stdout.strip()} ({PY312}); Lambda python3.12 layout")
    from bench import local
    from localdev.fake_models import FakeModels

    with local.replicate_env(), tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        models = FakeModels().start()
        passed = ("AWS_", "BUCKET_NAME", "REPLICATE_", "PUBLIC_BASE_URL", "MAX_OUTPUT_BYTES")
        env = {k: v for k, v in os.environ.items() if k.startswith(passed)}
        env |= {
            "PATH": os.environ.get("PATH", ""),
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": models.url,
            "GENERATE_MODELS": "sd3.5-large",
            "EDIT_MODELS": "sd3.5-large",
            "ANALYSIS_MODELS": "{}",  # Terraform's default: the route answers 501 without a model
        }
        try:
            figures = measure(ctx, Path(tmp), env)
        finally:
            models.stop()
    report(ctx, figures)
    return figures


def measure(ctx, tmp: Path, env: dict) -> list[Figure]:
    figures = []
    requests = first_requests()
    seed_event = tmp / "seed.json"
    seed_event.write_text(json.dumps(requests["get_job"][0]))
    seed_paths = layout("seed", tmp / "seed", seed=True)
    for function in sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py")):
        event, expected = requests[function]
        event_file = tmp / f"{function}.json"
        event_file.write_text(json.dumps(event))
        ours: list[tuple[float, float, float]] = []
        seed: list[tuple[float, float, float]] = []
        modules: list[str] = []
        paths = layout(function, tmp / function, seed=False)
        for _ in range(ctx.runs):  # interleaved, so drift hits both alike
            init, wall, first, modules = probe(paths, env, event_file, expected)
            ours.append((init, wall, first))
            init, wall, first, _ = probe(seed_paths, env, seed_event, 404)
            seed.append((init, wall, first))
        figures.append(
            Figure(
                "cold start",
                f"{function} INIT import",
                median([s[0] for s in ours]) * 1000,
                median([s[0] for s in seed]) * 1000,
                "ms",
                "seed-style handler (boto3 client at import) on the runtime's precompiled boto3",
                "",
                None,
                {
                    "process_ms": median([s[1] for s in ours]) * 1000,
                    "seed_process_ms": median([s[1] for s in seed]) * 1000,
                    "unused_at_init": unused(function, modules),
                    "third_party_at_init": sorted(
                        f for f, names in FAMILIES.items() if {m.split(".")[0] for m in modules} & names
                    ),
                },
            )
        )
        first_ours, first_seed = median([s[2] for s in ours]), median([s[2] for s in seed])
        target = TARGETS.get(function, "")
        figures.append(
            Figure(
                "cold start",
                f"{function} INIT + first request",
                first_ours * 1000,
                first_seed * 1000,
                "ms",
                "the seed-style handler's INIT + one GetObject",
                target,
                check(first_ours / first_seed, target),
            )
        )
    return figures


def report(ctx, figures: list[Figure]) -> None:
    inits = [f for f in figures if f.name.endswith("INIT import")]
    firsts = {f.name.split()[0]: f for f in figures if f.name.endswith("first request")}
    rows = [
        f"{'cold start':<20} {'import ms':>10} {'seed':>8} {'INIT ms':>8} {'seed':>8} {'+1st req':>9} {'seed':>8}"
        "  third-party at INIT"
    ]
    for f in inits:
        name = f.name.split()[0]
        rows.append(
            f"{name:<20} {f.value:>10.0f} {f.baseline:>8.0f} {f.extra['process_ms']:>8.0f}"
            f" {f.extra['seed_process_ms']:>8.0f} {firsts[name].value:>9.0f} {firsts[name].baseline:>8.0f}"
            f"  {', '.join(f.extra['third_party_at_init']) or '-'}"
        )
    rows.append("(INIT ms = the whole fresh interpreter: start-up + import, what Lambda bills as INIT;")
    rows.append(" +1st req = import + the first request, clients made on first use: what the first caller waits for)")
    ctx.tables.append("\n".join(rows))
    bad_any = {f.name.split()[0]: f.extra["unused_at_init"] for f in inits if f.extra["unused_at_init"]}
    ctx.verdicts.append(
        (
            "no function imports at INIT a module it does not use",
            not bad_any,
            json.dumps(bad_any) if bad_any else "none",
        )
    )
