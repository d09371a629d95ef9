"""Cold start per function, laid out the way Lambda lays it out.

/var/task = the function zip unpacked, /opt/python = every layer unpacked (imagegen + vendor),
/var/runtime = boto3 (the runtime provides it; installed here once, for cp312, into build/).
A fresh `python3.12 -B -I` per run (no .pyc: layer zips carry none and /opt is read-only on
Lambda, so every cold start compiles) imports the handler module: that is the handler's INIT.

Baseline: the same handler written the naive way, `import boto3, replicate, requests` at module
top as the source systems did, then the same code. Also listed: every third-party package and
imagegen module a function imports at INIT that it does not use (table USES below).
"""

from __future__ import annotations

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

PY312 = os.environ.get("BENCH_PYTHON", "/root/.pyenv/versions/3.12.1/bin/python")
RUNTIME_DIR = ROOT / "build" / "bench-runtime"
NAIVE_IMPORTS = "import boto3, replicate, requests  # naive: every SDK at module top\n"

# Third-party distributions, by the top-level module names they bring in.
FAMILIES = {
    "boto3": {"boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3", "six"},
    "replicate": {"replicate", "httpx", "httpcore", "pydantic", "pydantic_core", "anyio", "h11", "sniffio"},
    "requests": {"requests", "charset_normalizer"},
    "multipart": {"multipart"},
}
# What each function uses, at INIT or per request. A function (e.g. analyze) missing here is
# reported as "not declared" rather than judged.
# What each function may import at INIT (a module outside its set is reported as unused there).
BASE = {
    "boto3",
    *("imagegen.http", "imagegen.config", "imagegen.aws", "imagegen.jobs", "imagegen.storage", "imagegen.logs"),
}
USES = {
    "get_job": BASE,
    "replicate_webhook": {*BASE, "imagegen.webhooks", "imagegen.secrets", "imagegen.images"},
    "edit": {
        *BASE,
        "replicate",
        "multipart",
        *("imagegen.edits", "imagegen.predictions", "imagegen.secrets", "imagegen.images"),
        # Bedrock edits now, Replicate models' forms, masks, Prefer: wait, aliases, the answer's data
        *("imagegen.bedrock", "imagegen.invoke", "imagegen.editmodels", "imagegen.forms", "imagegen.masks"),
        *("imagegen.models", "imagegen.results", "imagegen.waiting", "imagegen.parsing"),
    },
    "generate": {
        *BASE,
        "replicate",
        *("imagegen.generation", "imagegen.bedrock", "imagegen.sagemaker", "imagegen.invoke"),
        *("imagegen.predictions", "imagegen.secrets", "imagegen.images"),
        *("imagegen.models", "imagegen.results", "imagegen.waiting", "imagegen.parsing"),
    },
    "authorizer": {*BASE, "imagegen.apikeys"},
    "analyze": {
        *BASE,
        *("imagegen.analysis", "imagegen.fetch", "imagegen.forms", "imagegen.images"),
        *("imagegen.parsing", "imagegen.invoke"),
    },
    "cancel_job": {*BASE, "imagegen.cancellation", "imagegen.predictions", "imagegen.secrets"},
    "sweeper": {
        *BASE,
        "imagegen.sweeper",
        "imagegen.predictions",
        "imagegen.webhooks",
        "imagegen.secrets",
        "imagegen.images",
    },
}
TARGETS = {"replicate_webhook": "<= 0.7x", "get_job": "<= 0.7x"}

PROBE = """
import json, sys, time
start = time.perf_counter()
sys.path[:0] = {paths!r}
import handler
init = time.perf_counter() - start
print(json.dumps({{"init": init, "modules": sorted(sys.modules)}}))
"""


def ensure_runtime() -> Path:
    """boto3 (as the Lambda runtime has it) and requests (for the naive baseline), for cp312."""
    marker = RUNTIME_DIR / ".done"
    if not marker.exists():
        shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile"),
                *("--platform", f"manylinux2014_{platform.machine()}", "--implementation", "cp"),
                *("--python-version", "3.12"),
                *("--only-binary=:all:", "--target", str(RUNTIME_DIR), "boto3", "requests"),
            ],
            check=True,
        )
        marker.touch()
    return RUNTIME_DIR


def unpack(zip_path: Path, target: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(target)


def layout(function: str, root: Path, naive: bool) -> list[str]:
    """Unpack one function the way Lambda does; returns its sys.path entries."""
    task, opt = root / "var" / "task", root / "opt"
    task.mkdir(parents=True)
    unpack(ROOT / "dist" / "functions" / f"{function}.zip", task)
    for layer in sorted((ROOT / "dist" / "layers").glob("*.zip")):
        unpack(layer, opt)
    if naive:
        source = (task / "handler.py").read_text()
        (task / "handler.py").write_text(NAIVE_IMPORTS + source)
    return [str(task), str(opt / "python"), str(ensure_runtime())]


def probe(paths: list[str], env: dict) -> tuple[float, float, list[str]]:
    """(import seconds, whole process seconds, modules) from one fresh interpreter."""
    start = time.perf_counter()
    out = subprocess.run(
        [PY312, "-B", "-I", "-c", PROBE.format(paths=paths)], capture_output=True, text=True, env=env, check=True
    )
    wall = time.perf_counter() - start
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result["init"], wall, result["modules"]


def unused(function: str, modules: list[str]) -> list[str] | None:
    uses = USES.get(function)
    if uses is None:
        return None
    found = []
    tops = {name.split(".")[0] for name in modules}
    for family, names in FAMILIES.items():
        if tops & names and family not in uses:
            found.append(family)
    found += [m for m in modules if m.startswith("imagegen.") and m.count(".") == 1 and m not in uses]
    return found


def run(ctx) -> list[Figure]:
    python = PY312 if Path(PY312).exists() else sys.executable
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    )
    ctx.notes.append(f"cold start: Python {version.stdout.strip()} ({python}); Lambda python3.12 layout")
    globals()["PY312"] = python
    env = {"PATH": os.environ.get("PATH", ""), "BUCKET_NAME": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    figures = []
    for function in sorted(p.parent.name for p in (ROOT / "functions").glob("*/handler.py")):
        samples: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        modules: list[str] = []
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
            paths = {
                naive: layout(function, Path(tmp) / ("naive" if naive else "ours"), naive) for naive in (False, True)
            }
            for _ in range(ctx.runs):
                for naive in (False, True):  # interleaved, so drift hits both alike
                    init, wall, mods = probe(paths[naive], env)
                    samples[naive].append((init, wall))
                    if not naive:
                        modules = mods
        ours = median([s[0] for s in samples[False]])
        naive = median([s[0] for s in samples[True]])
        bad = unused(function, modules)
        target = TARGETS.get(function, "")
        figures.append(
            Figure(
                "cold start",
                f"{function} INIT import",
                ours * 1000,
                naive * 1000,
                "ms",
                "naive handler (boto3, replicate, requests at top)",
                target,
                check(ours / naive, target),
                {
                    "process_ms": median([s[1] for s in samples[False]]) * 1000,
                    "naive_process_ms": median([s[1] for s in samples[True]]) * 1000,
                    "unused_at_init": bad,
                    "third_party_at_init": sorted(
                        f for f, names in FAMILIES.items() if {m.split(".")[0] for m in modules} & names
                    ),
                },
            )
        )
    rows = [f"{'cold start':<20} {'import ms':>10} {'naive':>8} {'INIT ms':>8} {'naive':>8}  third-party at INIT"]
    for f in figures:
        rows.append(
            f"{f.name.split()[0]:<20} {f.value:>10.0f} {f.baseline:>8.0f} {f.extra['process_ms']:>8.0f}"
            f" {f.extra['naive_process_ms']:>8.0f}  {', '.join(f.extra['third_party_at_init']) or '-'}"
        )
    rows.append("(INIT ms = the whole fresh interpreter: start-up + import, what Lambda bills as INIT)")
    ctx.tables.append("\n".join(rows))
    bad_any = {f.name.split()[0]: f.extra["unused_at_init"] for f in figures if f.extra["unused_at_init"]}
    ctx.verdicts.append(
        (
            "no function imports at INIT a module it does not use",
            not bad_any,
            json.dumps(bad_any) if bad_any else "none",
        )
    )
    return figures
