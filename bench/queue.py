"""Jobs for every model: a burst against a model's quota, webhook delivery, and what a queued job costs.

In this process, against LocalStack (S3, SQS) and the fake Bedrock with a per-model quota: the generate
function, and the worker and deliverer as their event source mappings run them (localdev/queues.py).
Time is scaled 10x: the quota is 10 requests a minute, enforced per 6 s, and a model call takes 1 s
(SD3.5's is about 10 s), so "a minute" of the quota here is 6 s.

- burst: 100 generations at once, answered now (the sync path, its throttled calls retried with backoff
  while API Gateway's 29 s allow) against the same 100 with `Prefer: respond-async`; 429s, jobs lost,
  and the time to drain against the quota's own time for 100 (100 / 10 "minutes").
- webhook: from a job's end to the receiver's 2xx, healthy; and a receiver failing its first 3
  attempts (retry waits shortened to 1 s): it still gets the event, with one id.
- cost: the AWS requests a queued job makes beyond the sync call (SQS, S3) and the worker's own
  invocation (its time less the model's), at list prices, as a share of an SD3.5 image's price.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import Figure, check, median, prices
from bench.local import environment, event, load_handler, replicate_env

SCALE = 10  # time runs 10x faster here
QUOTA = 10  # requests a minute (the fake enforces it per 60 / SCALE s)
BURST = 100
MODEL_SECONDS = 1.0  # SD3.5's ~10 s, scaled
WORKER_MEMORY_MB = 1024  # terraform: functions.worker.memory_size
WORKER_SECONDS: list[float] = []  # each worker invocation's time, as Lambda would bill it


def load(name: str):
    """The function's handler; the worker's timed."""
    handler = load_handler(name)
    if name != "worker":
        return handler

    def timed(event, context):
        started = time.perf_counter()
        try:
            return handler(event, context)
        finally:
            WORKER_SECONDS.append(time.perf_counter() - started)

    return timed


def run(ctx) -> list[Figure]:
    from imagegen import aws, catalog
    from localdev import queues
    from localdev.fake_models import FakeModels

    models = FakeModels().start()
    env = {
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": models.url,
        "MODEL_QUOTAS": json.dumps({"sd3.5-large": QUOTA}),
        "WEBHOOK_RETRY_SECONDS": "0,1,1,1,1,1,1,1",
        "IMAGEGEN_WEBHOOK_ALLOW_LOOPBACK": "1",
    }
    # queues.ensure sets where the queues are: put back afterwards too
    made_here = ("WORK_QUEUES", "DELIVERY_QUEUE_URL", "DELIVERY_DEAD_LETTER_URL")
    figures: list[Figure] = []
    pollers = []
    try:
        with environment(env, made_here), replicate_env():
            aws.client.cache_clear()
            made = queues.ensure(f"imagegen-bench-{int(time.time())}")
            pollers = queues.start_pollers(load, made)
            generate = load_handler("generate")
            figures += burst(ctx, generate, models)
            figures += webhook(ctx, generate)
            figures += cost(ctx, generate, models, catalog.get("sd3.5-large").price["usd"])
    finally:
        for poller in pollers:
            poller.stop()
        models.stop()
        aws.client.cache_clear()
    return figures


def post(generate, body: dict, prefer: str | None = None) -> dict:
    headers = {"prefer": prefer} if prefer else {}
    return generate(event("POST", "/v1/images/generations", "POST /v1/images/generations", json.dumps(body), headers))


def wait_all(job_ids: list[str], seconds: float) -> list[dict]:
    from imagegen.jobs import records

    deadline = time.monotonic() + seconds
    while True:
        jobs = [records.get(job_id) for job_id in job_ids]
        if all(job["status"] in records.TERMINAL for job in jobs) or time.monotonic() > deadline:
            return jobs
        time.sleep(0.25)


def burst(ctx, generate, models) -> list[Figure]:
    models.latency, models.quota = MODEL_SECONDS, (QUOTA, 60 / SCALE)
    body = {"prompt": "a burst", "model": "sd3.5-large"}
    with ThreadPoolExecutor(BURST) as pool:
        sync = list(pool.map(lambda n: post(generate, {**body, "seed": n}), range(BURST)))
    refused = sum(answer["statusCode"] == 429 for answer in sync)
    made_now = sum(answer["statusCode"] == 201 for answer in sync)
    time.sleep(60 / SCALE)  # the quota's window passes
    models.throttled = 0
    started = time.monotonic()
    with ThreadPoolExecutor(BURST) as pool:
        queued = list(pool.map(lambda n: post(generate, {**body, "seed": n}, "respond-async"), range(BURST)))
    accepted = [json.loads(answer["body"])["id"] for answer in queued if answer["statusCode"] == 202]
    jobs = wait_all(accepted, 300)
    drained = time.monotonic() - started
    succeeded = sum(job["status"] == "succeeded" for job in jobs)
    lost = BURST - succeeded
    quota_time = BURST / QUOTA * 60 / SCALE
    ctx.notes.append(
        f"queue: {BURST} generations at once on a model taking {QUOTA}/min (time x{SCALE}): answered now "
        f"{made_now} made, {refused} refused 429; as jobs {len(accepted)} accepted, {succeeded} succeeded, "
        f"{lost} lost, drained in {drained:.1f} s against the quota's {quota_time:.0f} s "
        f"({models.throttled} calls throttled on the way and retried)"
    )
    ctx.verdicts.append(("a burst as jobs: every one succeeds, none lost", lost == 0, f"{succeeded}/{BURST}"))
    models.latency, models.quota = 0.0, None
    return [
        Figure("queue", f"{BURST} at once: 429s answered now", refused, BURST, "", "requests sent"),
        Figure(
            "queue",
            f"{BURST} as jobs: time to drain",
            drained,
            quota_time,
            "s",
            "the quota's own time for them",
            "<= 1.5x",
            check(drained / quota_time, "<= 1.5x") and lost == 0,
            {"succeeded": succeeded, "lost": lost, "throttled_calls": models.throttled},
        ),
    ]


class Receiver:
    def __init__(self, failures: int):
        self.failures, self.got, self.answered = failures, [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                receiver.got.append((time.time(), self.headers["webhook-id"]))
                self.rfile.read(int(self.headers["content-length"]))
                failing = len(receiver.got) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.end_headers()
                if not failing:
                    receiver.answered.append(time.time())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


def webhook(ctx, generate) -> list[Figure]:
    def delivered(failures: int) -> tuple[float, int, int]:
        receiver = Receiver(failures)
        try:
            answer = post(generate, {"prompt": "a hook", "model": "sd3.5-large", "webhook": receiver.url})
            ended = time.time()  # a sync job ends with its answer
            assert answer["statusCode"] == 201, answer["body"][:300]
            deadline = time.monotonic() + 60
            while not receiver.answered and time.monotonic() < deadline:
                time.sleep(0.02)
            return receiver.answered[0] - ended, len(receiver.got), len({i for _, i in receiver.got})
        finally:
            receiver.server.shutdown()

    healthy = [delivered(0)[0] for _ in range(ctx.runs)]
    late, attempts, ids = delivered(3)
    ctx.notes.append(
        f"webhook: job end to the receiver's 2xx, median {median(healthy) * 1000:.0f} ms; a receiver failing 3 times "
        f"got it on attempt {attempts} after {late:.1f} s (waits 1 s here), {ids} distinct webhook-id"
    )
    ctx.verdicts.append(("a receiver failing 3 attempts gets the event, one id", attempts == 4 and ids == 1, f"{ids}"))
    return [
        Figure("queue", "webhook: job end to the receiver's 2xx", median(healthy) * 1000, 1000, "ms", "one second"),
    ]


def cost(ctx, generate, models, image_usd: float) -> list[Figure]:
    """A queued job's AWS requests and the worker's own time beyond the same sync call."""
    from imagegen import aws

    models.latency = MODEL_SECONDS
    calls: list[str] = []
    aws.session().register("before-call", lambda model, **_: calls.append(model.name), unique_id="bench-queue")
    aws.client.cache_clear()
    try:
        counted: dict[str, list[list[str]]] = {"sync": [], "queued": []}
        WORKER_SECONDS.clear()
        for _ in range(ctx.runs):
            before = len(calls)
            post(generate, {"prompt": "a cost", "model": "sd3.5-large"})
            counted["sync"].append(calls[before:])
            before, ran = len(calls), len(WORKER_SECONDS)
            post(generate, {"prompt": "a cost", "model": "sd3.5-large"}, "respond-async")
            deadline = time.monotonic() + 60
            while len(WORKER_SECONDS) == ran and time.monotonic() < deadline:  # not polling S3: its reads would count
                time.sleep(0.02)
            counted["queued"].append(calls[before:])
    finally:
        aws.session().unregister("before-call", unique_id="bench-queue")
        models.latency = 0.0

    def per_job(kind: str, names: tuple[str, ...]) -> float:
        return sum(sum(c in names for c in made) for made in counted[kind]) / len(counted[kind])

    # SendMessage by the function; the event source mapping's ReceiveMessage and DeleteMessage (batch size 1)
    sqs = per_job("queued", ("SendMessage",)) + 2
    puts = per_job("queued", ("PutObject", "DeleteObject")) - per_job("sync", ("PutObject", "DeleteObject"))
    gets = per_job("queued", ("GetObject", "HeadObject")) - per_job("sync", ("GetObject", "HeadObject"))
    overhead = max(0.0, median(WORKER_SECONDS) - MODEL_SECONDS)  # the worker's time beyond the model call
    usd = (
        sqs * prices.SQS_REQUEST
        + puts * prices.S3_PUT
        + gets * prices.S3_GET
        + prices.LAMBDA_REQUEST
        + prices.lambda_cost(int(overhead * 1000) + 1, WORKER_MEMORY_MB)
    )
    ctx.notes.append(
        f"queue cost: per job beyond the sync call {sqs:.1f} SQS requests, {puts:+.1f} S3 writes, "
        f"{gets:+.1f} S3 reads, "
        f"one worker invocation ({overhead * 1000:.0f} ms beyond the model); the event source mapping's own idle "
        "polling is a fixed monthly cost per queue, not per job"
    )
    return [
        Figure(
            "queue",
            "AWS cost a queued job adds to its model call",
            usd,
            image_usd,
            "$",
            "an SD3.5 image's list price",
            "<= 0.01x",
            check(usd / image_usd, "<= 0.01x"),
            {"sqs": sqs, "s3_writes": puts, "s3_reads": gets, "worker_overhead_s": overhead},
        )
    ]
