"""Every kind of request each function serves, run in-process against a deployment on the emulator.

Used by test_deploy's permission test: each function runs with its deployed environment, its bucket
on the moto server, the fake Bedrock/SageMaker and the fake Replicate (accept-only: the scenarios
finish predictions themselves), so the AWS calls recorded are the ones its code makes in AWS.
"""

from __future__ import annotations

import base64
import io
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
from PIL import Image

from localdev import demo_models
from localdev.emulator import REGION
from localdev.fake_models import FakeModels
from localdev.fake_replicate import FakeReplicate, render, signed_headers
from localdev.server import build_event, load_handler, load_routes
from tests.conftest import FakeContext, clear_caches

CATALOG = json.loads((Path(__file__).resolve().parents[2] / "src/imagegen/catalog.json").read_text())
DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"


def picture(width: int = 96, height: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def alpha_mask(width: int = 96, height: int = 96) -> bytes:
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (10, 10, 50, 50))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


class Fakes:
    """The providers' fakes, the deployment's secrets and models, and what the scenarios share."""

    def __init__(self, deployment, environments: dict[str, dict[str, str]]):
        self.deployment, self.environments = deployment, environments
        self.models = FakeModels().start()
        self.replicate = FakeReplicate(deliver=False).start()
        self.applied: set[str] = set()
        self.replicate_jobs: list[str] = []  # replicate jobs the scenarios created, not yet finished
        self.finished_job = ""
        self.key = ""
        self.queued_jobs: list[str] = []  # Prefer: respond-async jobs of models that answer now, for the worker

    @classmethod
    def start(cls, deployment, environments: dict[str, dict[str, str]]) -> Fakes:
        fakes = cls(deployment, environments)
        aws = {"endpoint_url": deployment.endpoint, "region_name": REGION}
        ssm, s3 = boto3.client("ssm", **aws), boto3.client("s3", **aws)
        secrets = {
            "REPLICATE_API_TOKEN_PARAM": fakes.replicate.token,
            "REPLICATE_WEBHOOK_SECRET_PARAM": fakes.replicate.secret,
        }
        for variable, value in secrets.items():
            name = next(env[variable] for env in environments.values() if variable in env)
            ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
        bucket = environments["generate"]["BUCKET_NAME"]
        if json.loads(environments["analyze"].get("ANALYSIS_MODELS", "{}")):
            demo_models.install(s3, bucket, prefix="models/demo")  # the complete example's keys
        saved = dict(os.environ)
        try:  # an API key, minted as an operator would (outside any function)
            os.environ.update(BUCKET_NAME=bucket, AWS_ENDPOINT_URL=deployment.endpoint)
            clear_caches()
            from imagegen import apikeys

            fakes.key, record = apikeys.mint("permission test", limits=LIMITS)
            CALLER.update(key_id=record["id"], limits=json.dumps(record["limits"]))
        finally:
            os.environ.clear()
            os.environ.update(saved)
            clear_caches()
        return fakes

    def enter(self, monkeypatch, env: dict[str, str]) -> None:
        """Become one function: its deployed environment, pointed at the emulator and the fakes; a cold start."""
        for name in self.applied - set(env):
            monkeypatch.delenv(name, raising=False)
        local = {
            "AWS_ENDPOINT_URL": self.deployment.endpoint,
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.models.url,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": self.models.url,
            "AWS_DEFAULT_REGION": REGION,
            "REPLICATE_BASE_URL": self.replicate.url,
            "REPLICATE_OUTPUT_HOSTS": self.replicate.netloc,
            "REPLICATE_ALLOW_HTTP_LOOPBACK": "1",
        }
        for name, value in {**env, **local}.items():
            monkeypatch.setenv(name, value)
        self.applied = set(env)
        clear_caches()
        from imagegen.analysis import models as analysis
        from imagegen.providers import replicate as predictions

        predictions._client.cache_clear()
        analysis.model.cache_clear()

    def stop(self) -> None:
        self.models.stop()
        self.replicate.stop()


# Who the scenarios' requests come from: the minted key, with limits, as its authorizer hands them on,
# so the functions reserve, count and settle against its budget and rate (set in Fakes.start).
CALLER: dict[str, str] = {}
WEBHOOK = "https://receiver.invalid/hook"  # never resolves: the deliverer's attempt fails and is retried
# with a default webhook: every job the scenarios make puts its delivery on the queue when it ends
LIMITS = {"budget_usd_day": 100.0, "budget_usd_month": 1000.0, "rpm": 1000, "webhook": WEBHOOK}


def call(function: str, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> dict:
    """The function's answer to one request, through a payload-2.0 event as API Gateway builds it."""
    for route in load_routes():
        match = route.pattern.match(path.split("?")[0])
        if match and route.method == method:
            break
    else:
        raise AssertionError(f"no route for {method} {path}")
    assert route.function == function, (route.function, function)
    # wait=0: a model that answers later is answered 202 at once (the fake never finishes on its own)
    heads = {"host": DOMAIN, "content-type": "application/json", "prefer": "wait=0", **(headers or {})}
    event = build_event(route, match, method, path, heads, body, "203.0.113.7", DOMAIN)
    event["headers"]["x-forwarded-proto"] = "https"
    if CALLER and function != "replicate_webhook":
        event["requestContext"]["authorizer"] = {"lambda": dict(CALLER)}
    return load_handler(function)(event, FakeContext())


def post_json(function: str, path: str, body: dict, headers: dict | None = None) -> dict:
    answer = call(function, "POST", path, json.dumps(body).encode(), headers)
    assert answer["statusCode"] in (200, 201, 202), (path, body.get("model"), answer["body"][:500])
    return json.loads(answer["body"])


def generate(fakes: Fakes, expected) -> None:
    bodies = [{"prompt": "a lighthouse", "model": name} for name in expected.models["generate"] if name != "sagemaker"]
    if expected.sagemaker:
        bodies.append({"prompt": "a lighthouse", "provider": "sagemaker"})
    for body in bodies:
        answer = post_json("generate", "/v1/images/generations", body)
        if answer["status"] != "succeeded":
            fakes.replicate_jobs.append(answer["id"])
    rows = CATALOG["models"]
    replicate = next(n for n in expected.models["generate"] if rows.get(n, {}).get("provider") == "replicate")
    refused_by_replicate(fakes, "generate", "/v1/images/generations", {"prompt": "a lighthouse", "model": replicate})
    queue(
        fakes,
        "generate",
        "/v1/images/generations",
        [b for b in bodies if rows.get(b.get("model"), {}).get("provider") != "replicate"],
    )


def queue(fakes: Fakes, function: str, path: str, bodies: list[dict]) -> None:
    """Each request to a model that answers now again, as a job (Prefer: respond-async)."""
    for body in bodies:
        answer = post_json(function, path, body, {"prefer": "respond-async"})
        assert answer["status"] == "queued", answer
        fakes.queued_jobs.append(answer["id"])


def refused_by_replicate(fakes: Fakes, function: str, path: str, body: dict) -> None:
    """A prediction Replicate refuses (here: it no longer takes our token): the job is recorded failed and
    its open/ marker removed by the function that opened it."""
    token, fakes.replicate.token = fakes.replicate.token, "r8_revoked"
    try:
        answer = call(function, "POST", path, json.dumps(body).encode())
    finally:
        fakes.replicate.token = token
    assert answer["statusCode"] in (502, 503), answer["body"][:300]


def edit_body(name: str) -> dict:
    """An edit the model can do: its image, and a prompt and a mask where it takes them."""
    row = CATALOG["models"][name]
    body: dict = {"image": base64.b64encode(picture()).decode(), "model": name}
    takes = set(row.get("inputs", {})) if row["provider"] == "replicate" else {"prompt"}
    if "prompt" in takes:
        body["prompt"] = "a hat"
    if row["family"] == "stability-inpaint" or "mask" in row.get("inputs", {}).get("requires", []):
        body["mask"] = base64.b64encode(alpha_mask()).decode()
    if row["provider"] == "bedrock":
        body["response_format"] = "b64_json"  # the images are read back from the bucket
    return body


def edit(fakes: Fakes, expected) -> None:
    for name in expected.models["edit"]:
        answer = post_json("edit", "/v1/images/edits", edit_body(name))
        fakes.replicate_jobs += [job["id"] for job in answer.get("jobs", [])]
    replicate = next(n for n in expected.models["edit"] if CATALOG["models"][n]["provider"] == "replicate")
    for _ in range(2):  # two more, for cancel and the sweeper
        answer = post_json("edit", "/v1/images/edits", edit_body(replicate))
        fakes.replicate_jobs += [job["id"] for job in answer["jobs"]]
    refused_by_replicate(fakes, "edit", "/v1/images/edits", edit_body(replicate))
    now_models = [n for n in expected.models["edit"] if CATALOG["models"][n]["provider"] != "replicate"]
    queue(fakes, "edit", "/v1/images/edits", [edit_body(name) for name in now_models])


def worker(fakes: Fakes, expected) -> None:
    """Each queued job, as its queue's event source mapping hands it to the worker."""
    records = [{"messageId": str(n), "body": json.dumps({"job_id": job})} for n, job in enumerate(fakes.queued_jobs)]
    for record in records:
        answer = load_handler("worker")({"Records": [record]}, FakeContext())
        assert answer == {"batchItemFailures": []}, answer


def deliver(fakes: Fakes, expected) -> None:
    """A queued job's event: a first attempt (the receiver cannot be reached: the next is queued), and a
    last one (given up: the dead-letter queue)."""
    job = fakes.queued_jobs[0]
    for attempt in (1, 8):
        message = {"job_id": job, "attempt": attempt, "due": 0}
        answer = load_handler("deliver")({"Records": [{"messageId": "1", "body": json.dumps(message)}]}, FakeContext())
        assert answer == {"batchItemFailures": []}, answer


def webhook_secret(fakes: Fakes, expected) -> None:
    """The key's secret (made by the deliverer already: read), and a deployment without keys' (made now)."""
    route = next(r for r in load_routes() if r.key == "GET /v1/webhooks/default/secret")
    for caller in (dict(CALLER), None):
        event = build_event(route, route.pattern.match(route.key.split(" ")[1]), "GET", route.key.split(" ")[1],
                            {"host": DOMAIN}, b"", "203.0.113.7", DOMAIN)  # fmt: skip
        if caller:
            event["requestContext"]["authorizer"] = {"lambda": caller}
        answer = load_handler("webhook_secret")(event, FakeContext())
        assert answer["statusCode"] == 200 and json.loads(answer["body"])["key"].startswith("whsec_"), answer["body"]


def succeed(fakes: Fakes, job_id: str) -> str:
    """The job's prediction succeeds at the fake Replicate; its payload."""
    record = json.loads(
        boto3.client("s3", endpoint_url=fakes.deployment.endpoint, region_name=REGION)
        .get_object(Bucket=fakes.environments["generate"]["BUCKET_NAME"], Key=f"jobs/{job_id}.json")["Body"]
        .read()
    )
    prediction = fakes.replicate.predictions[record["prediction_id"]]
    output = f"{fakes.replicate.url}/delivery/{prediction['id']}/out-0.png"
    fakes.replicate.outputs[output] = render(job_id.encode())
    prediction.update(status="succeeded", output=output, completed_at="2026-12-01T00:00:00Z")
    return json.dumps(prediction)


def replicate_webhook(fakes: Fakes, expected) -> None:
    job_id = fakes.replicate_jobs.pop(0)
    payload = succeed(fakes, job_id)
    headers = signed_headers(fakes.replicate.secret, payload)
    answer = call("replicate_webhook", "POST", f"/v1/webhooks/replicate?job_id={job_id}", payload.encode(), headers)
    assert answer["statusCode"] == 200, answer["body"]
    fakes.finished_job = job_id


def get_job(fakes: Fakes, expected) -> None:
    answer = call("get_job", "GET", f"/v1/jobs/{fakes.finished_job}")
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["images"][0]["url"], answer["body"]


def cancel_job(fakes: Fakes, expected) -> None:
    answer = call("cancel_job", "POST", f"/v1/jobs/{fakes.replicate_jobs.pop(0)}/cancel")
    assert answer["statusCode"] == 200, answer["body"]


def sweeper(fakes: Fakes, expected) -> None:
    from imagegen.jobs import sweeper as sweeping

    succeed(fakes, fakes.replicate_jobs[0])
    done = sweeping.sweep(datetime.now(timezone.utc) + timedelta(minutes=10))
    assert done.get("finished_succeeded", 0) >= 1, done


def authorizer(fakes: Fakes, expected) -> None:
    bearer = f"Bearer {fakes.key}"
    event = {"version": "2.0", "type": "REQUEST", "routeKey": "POST /v1/images/edits",
             "identitySource": [bearer], "headers": {"authorization": bearer}}  # fmt: skip
    assert load_handler("authorizer")(event, FakeContext())["isAuthorized"] is True


def analyze(fakes: Fakes, expected) -> None:
    body = {"image": base64.b64encode(picture()).decode()}
    for path in ("/v1/images/classifications", "/v1/images/detections"):
        answer = call("analyze", "POST", path, json.dumps(body).encode())
        assert answer["statusCode"] == (200 if expected.analysis_models else 501), answer["body"]


def models(fakes: Fakes, expected) -> None:
    answer = call("models", "GET", "/v1/models")
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["data"], answer["body"]


def usage(fakes: Fakes, expected) -> None:
    """The caller's own ledger: a key's (as the authorizer hands it on) and, without keys, the account's."""
    from imagegen import apikeys

    key_id = apikeys.KEY_PATTERN.fullmatch(fakes.key).group(1)
    for owner in (key_id, None):
        route = next(r for r in load_routes() if r.key == "GET /v1/usage")
        event = build_event(route, route.pattern.match("/v1/usage"), "GET", "/v1/usage", {"host": DOMAIN}, b"",
                            "203.0.113.7", DOMAIN)  # fmt: skip
        if owner:
            event["requestContext"]["authorizer"] = {"lambda": {"key_id": owner, "limits": CALLER["limits"]}}
        answer = load_handler("usage")(event, FakeContext())
        assert answer["statusCode"] == 200, answer["body"]


def web(fakes: Fakes, expected) -> None:
    for path in ("/", "/playground", "/openapi.json"):
        answer = call("web", "GET", path)
        assert answer["statusCode"] == 200, (path, answer["statusCode"])


SCENARIOS = {
    "generate": generate,
    "edit": edit,
    "replicate_webhook": replicate_webhook,
    "get_job": get_job,
    "cancel_job": cancel_job,
    "sweeper": sweeper,
    "authorizer": authorizer,
    "analyze": analyze,
    "models": models,
    "usage": usage,
    "web": web,
    "worker": worker,
    "deliver": deliver,
    "webhook_secret": webhook_secret,
}
