"""Every function as Lambda runs it: its zip plus exactly the layers Terraform attaches to it.

`make build` makes the zips. For each function, its zip is unpacked as /var/task and the layers
that terraform/functions.tf gives it (read from the .tf, not restated) as /opt/python, and the handler
answers a real request in a fresh Python 3.12 (Lambda's python3.12), isolated from everything else:
`-I -S`, so no site-packages, no dev venv, no PYTHONPATH; sys.path is the task and the layers only.
So a function that imports a package its layers lack, or runs on an AWS SDK other than the pinned
one, fails here. The AWS SDK must be the awssdk layer's, at the version pinned.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import hcl2
import pytest

from tests.conftest import EVENTS, ROOT
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock/SageMaker)

PY312 = os.environ.get("LAMBDA_PYTHON", "/root/.pyenv/versions/3.12.1/bin/python")
ARCH = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
PINNED = dict(
    line.split("==", 1)
    for line in (ROOT / "layers" / "awssdk" / "requirements.txt").read_text().split()
    if "==" in line
)
# What Lambda's runtime would read: ours (as Terraform sets it) and the test stack's endpoints.
PASSED_ENV = ("AWS_", "BUCKET_NAME", "REPLICATE_", "IMAGEGEN_", "SAGEMAKER_", "GENERATE_MODELS", "EDIT_MODELS")

RUNNER = """
import importlib.util, json, sys
task, opt, event_path = sys.argv[1:4]
sys.path[:0] = [task, opt]
spec = importlib.util.spec_from_file_location("lambda_function", task + "/handler.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

class Context:
    function_name = "isolated"
    memory_limit_in_mb = 512
    aws_request_id = "11111111-2222-3333-4444-555555555555"
    def get_remaining_time_in_millis(self):
        return 30000

answer = module.handler(json.load(open(event_path)), Context())
modules = sorted(m.split(".")[0] for m in sys.modules)
try:
    import boto3, botocore
    sdk = {"boto3": boto3.__file__, "botocore": botocore.__version__}
except ImportError:  # a function without the awssdk layer
    sdk = {"boto3": None, "botocore": None}
print(json.dumps({"answer": answer, **sdk, "path": sys.path, "modules": modules}))
"""


def terraform_layers() -> dict[str, list[str]]:
    """function => the layers terraform/functions.tf attaches, in order."""
    parsed = hcl2.loads((ROOT / "terraform" / "functions.tf").read_text())
    functions = next(block["functions"] for block in parsed["locals"] if "functions" in block)
    return {name: [layer.strip('"') for layer in spec["layers"]] for name, spec in functions.items()}


@pytest.fixture(scope="module")
def built() -> Path:
    if not Path(PY312).exists():
        pytest.fail(f"Lambda's Python 3.12 is needed at {PY312} (set LAMBDA_PYTHON)", pytrace=False)
    subprocess.run(["make", "-s", "build", f"ARCH={ARCH}", f"PYTHON={sys.executable}"], cwd=ROOT, check=True)
    return ROOT / "dist"


def lay_out(dist: Path, function: str, layers: list[str], where: Path) -> tuple[Path, Path]:
    task, opt = where / "var" / "task", where / "opt"
    zipfile.ZipFile(dist / "functions" / f"{function}.zip").extractall(task)
    for layer in layers:
        zipfile.ZipFile(dist / "layers" / f"{layer}.zip").extractall(opt)
    return task, opt / "python"


def run(dist: Path, function: str, event: dict, tmp_path: Path, **env: str) -> dict:
    layers = terraform_layers()[function]
    task, opt = lay_out(dist, function, layers, tmp_path)
    (tmp_path / "event.json").write_text(json.dumps(event))
    (tmp_path / "runner.py").write_text(RUNNER)
    passed = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV)}
    result = subprocess.run(
        [PY312, "-I", "-S", "-B", str(tmp_path / "runner.py"), str(task), str(opt), str(tmp_path / "event.json")],
        env={**passed, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, f"{function}:\n{result.stderr[-3000:]}"
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    # THEN the SDK is the awssdk layer's, pinned (or there is none at all); nothing came from outside
    if "awssdk" in layers:
        assert ran["boto3"].startswith(str(opt)), ran["boto3"]
        assert ran["botocore"] == PINNED["botocore"]
    else:
        assert ran["boto3"] is None, ran["boto3"]
    outside = [p for p in ran["path"] if p.endswith("site-packages")]
    assert outside == [], outside
    return ran


def event(name: str, **changes) -> dict:
    loaded = json.loads((EVENTS / f"{name}.json").read_text())
    return {**loaded, **changes}


def test_every_function_has_a_run_here():
    assert set(terraform_layers()) == set(RUNS)


def run_generate(dist, tmp_path, bucket):
    ran = run(dist, "generate", event("generate_post"), tmp_path)
    assert ran["answer"]["statusCode"] == 201, ran["answer"]["body"]
    body = json.loads(ran["answer"]["body"])
    assert boto3.client("s3").head_object(Bucket=bucket, Key=body["images"][0]["key"])["ContentType"] == "image/png"
    assert "replicate" not in ran["modules"]  # the async path's imports stay out of a sync request


def run_edit(dist, tmp_path, bucket):
    ran = run(dist, "edit", event("edit_multipart"), tmp_path)
    assert ran["answer"]["statusCode"] == 202, ran["answer"]["body"]
    assert {"replicate", "multipart"} <= set(ran["modules"])


def run_get_job(dist, tmp_path, bucket):
    ran = run(dist, "get_job", event("get_job", pathParameters={"id": "0" * 32}), tmp_path)
    assert ran["answer"]["statusCode"] == 404
    assert json.loads(ran["answer"]["body"])["error"]["code"] == "job_not_found"


def run_cancel_job(dist, tmp_path, bucket):
    cancel = event("get_job", pathParameters={"id": "0" * 32}, routeKey="POST /v1/jobs/{id}/cancel")
    ran = run(dist, "cancel_job", cancel, tmp_path)
    assert ran["answer"]["statusCode"] == 404


def run_replicate_webhook(dist, tmp_path, bucket):
    ran = run(dist, "replicate_webhook", event("webhook_succeeded"), tmp_path)
    assert ran["answer"]["statusCode"] == 401  # the sample's signature is not this secret's
    assert "replicate" not in ran["modules"]  # a stdlib verifier, no SDK


def run_sweeper(dist, tmp_path, bucket):
    ran = run(dist, "sweeper", {"source": "aws.events", "detail-type": "Scheduled Event"}, tmp_path)
    assert isinstance(ran["answer"], dict)


def run_authorizer(dist, tmp_path, bucket):
    request = {"version": "2.0", "type": "REQUEST", "routeArn": "arn:aws:execute-api:us-east-1:1:a/$default/POST/x",
               "identitySource": ["Bearer igk_0123456789abcdef_" + "x" * 43], "routeKey": "POST /v1/images/edits",
               "headers": {"authorization": "Bearer igk_0123456789abcdef_" + "x" * 43}}  # fmt: skip
    ran = run(dist, "authorizer", request, tmp_path)
    assert ran["answer"] == {"isAuthorized": False}


def run_analyze(dist, tmp_path, bucket):
    from tests.integration.test_analysis_api import picture  # a real PNG of one colour

    body = json.dumps({"image": base64.b64encode(picture((255, 0, 0))).decode()})
    classify = event("edit_json", body=body, routeKey="POST /v1/images/classifications")
    ran = run(dist, "analyze", classify, tmp_path, ANALYSIS_MODELS=os.environ["ANALYSIS_MODELS"])
    assert ran["answer"]["statusCode"] == 200, ran["answer"]["body"]
    assert {"onnxruntime", "numpy", "PIL"} <= set(ran["modules"])


def run_models(dist, tmp_path, bucket):
    ran = run(dist, "models", event("get_job", routeKey="GET /v1/models", pathParameters=None), tmp_path)
    assert ran["answer"]["statusCode"] == 200 and json.loads(ran["answer"]["body"])["data"]
    assert "boto3" not in ran["modules"]  # the catalog ships in the layer: no AWS SDK at all


def run_usage(dist, tmp_path, bucket):
    ran = run(dist, "usage", event("get_job", routeKey="GET /v1/usage", pathParameters=None), tmp_path)
    assert ran["answer"]["statusCode"] == 200 and json.loads(ran["answer"]["body"])["object"] == "usage"


def run_web(dist, tmp_path, bucket):
    page = run(dist, "web", event("get_job", routeKey="GET /", pathParameters=None), tmp_path)
    assert page["answer"]["statusCode"] == 200 and "<canvas" in page["answer"]["body"]  # the assets are in the layer
    contract = run(dist, "web", event("get_job", routeKey="GET /openapi.json", pathParameters=None), tmp_path)
    assert json.loads(contract["answer"]["body"])["openapi"] == "3.1.0"
    assert "boto3" not in page["modules"]  # a page needs no AWS SDK


def run_worker(dist, tmp_path, bucket):
    message = {"messageId": "m1", "body": json.dumps({"job_id": "0" * 32}), "eventSource": "aws:sqs"}
    ran = run(dist, "worker", {"Records": [message]}, tmp_path)
    assert ran["answer"] == {"batchItemFailures": []}  # a job with no record is dropped, not retried forever


def run_deliver(dist, tmp_path, bucket):
    message = {"messageId": "m1", "body": json.dumps({"job_id": "0" * 32, "attempt": 1, "due": 0})}
    ran = run(dist, "deliver", {"Records": [message]}, tmp_path)
    assert ran["answer"] == {"batchItemFailures": []}
    assert "replicate" not in ran["modules"]  # delivering needs no provider


def run_webhook_secret(dist, tmp_path, bucket):
    ran = run(
        dist,
        "webhook_secret",
        event("get_job", routeKey="GET /v1/webhooks/default/secret", pathParameters=None),
        tmp_path,
    )
    assert ran["answer"]["statusCode"] == 200 and json.loads(ran["answer"]["body"])["key"].startswith("whsec_")


RUNS = {
    "generate": run_generate,
    "edit": run_edit,
    "get_job": run_get_job,
    "cancel_job": run_cancel_job,
    "replicate_webhook": run_replicate_webhook,
    "sweeper": run_sweeper,
    "authorizer": run_authorizer,
    "analyze": run_analyze,
    "models": run_models,
    "usage": run_usage,
    "web": run_web,
    "worker": run_worker,
    "deliver": run_deliver,
    "webhook_secret": run_webhook_secret,
}


@pytest.mark.parametrize("function", sorted(RUNS))
@pytest.mark.usefixtures("models", "fake_replicate", "analysis_models")
def test_the_function_answers_from_its_zip_and_its_layers_alone(function, built, tmp_path, bucket):
    RUNS[function](built, tmp_path, bucket)
