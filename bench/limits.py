"""What a key's limits add to a request: a generation on SD3.5 (the fake Bedrock, answering at once)
through the generate function in this process, by a key with a day's and a month's budget and a rate
limit, against the same request by a key without limits. The S3 requests the check makes are counted
from botocore's own events (a reservation's read and conditional write, the rate count's, the
settlement's) and priced at S3's list prices: the AWS-side cost a budget adds, as a share of an SD3.5
image ($0.08). Target: under 1%."""

from __future__ import annotations

import json
import os
import time

from bench import Figure, check, median, prices
from bench.local import event, load_handler, replicate_env

TARGET = "< 1%"
LIMITS = {"budget_usd_day": 1_000_000.0, "budget_usd_month": 1_000_000.0, "rpm": 1_000_000}


def run(ctx) -> list[Figure]:
    from imagegen import aws, catalog
    from localdev.fake_models import FakeModels

    models = FakeModels().start()
    saved = os.environ.get("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
    os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = models.url
    calls: list[str] = []
    try:
        with replicate_env():
            generate = load_handler("generate")
            aws.session().register("before-call.s3", lambda model, **_: calls.append(model.name), unique_id="bench-s3")
            aws.client.cache_clear()  # clients made from now on see the hook, and this fake Bedrock

            def request(limits: dict | None) -> float:
                sent = event("POST", "/v1/images/generations", "POST /v1/images/generations",
                             json.dumps({"prompt": "a lighthouse", "model": "sd3.5-large"}))  # fmt: skip
                if limits is not None:
                    sent["requestContext"]["authorizer"] = {
                        "lambda": {"key_id": "00000000000000be", "limits": json.dumps(limits)}
                    }
                start = time.perf_counter()
                answer = generate(sent)
                assert answer["statusCode"] == 201, answer["body"][:300]
                return time.perf_counter() - start

            request(None)  # warm: clients made
            request(LIMITS)
            times: dict[bool, list[float]] = {False: [], True: []}
            made: dict[bool, list[list[str]]] = {False: [], True: []}
            for _ in range(ctx.runs * 3):
                for limited in (False, True):  # interleaved, so drift hits both alike
                    before = len(calls)
                    times[limited].append(request(LIMITS if limited else None))
                    made[limited].append(calls[before:])
            aws.session().unregister("before-call.s3", unique_id="bench-s3")
    finally:
        models.stop()
        os.environ.pop("AWS_ENDPOINT_URL_BEDROCK_RUNTIME")
        if saved is not None:
            os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = saved
        aws.client.cache_clear()  # its clients point at the stopped fake

    def per_request(limited: bool, name: str) -> float:
        return sum(names.count(name) for names in made[limited]) / len(made[limited])

    # the limits' own S3 calls: a limited request's less the same request's without limits
    added = {name: per_request(True, name) - per_request(False, name) for name in ("GetObject", "PutObject")}
    cost = added["GetObject"] * prices.S3_GET + added["PutObject"] * prices.S3_PUT
    image = catalog.get("sd3.5-large").price["usd"]
    share = cost / image * 100
    ctx.verdicts.append(
        (f"a budget and a rate limit add {TARGET} of an SD3.5 image's price in S3 requests", share < 1, f"{share:.4f}%")
    )
    ctx.notes.append(
        f"limits: S3 calls a budget and a rate limit add per request {added} (list prices of {prices.PRICES_DATE})"
    )
    return [
        Figure(
            "limits",
            "generation latency, key with budget + rate",
            median(times[True]) * 1000,
            median(times[False]) * 1000,
            "ms",
            "the same generation, key without limits",
        ),
        Figure(
            "limits",
            "S3 cost a budget + rate add per request",
            cost,
            image,
            "$",
            "an SD3.5 image's list price",
            "<= 0.01x",
            check(cost / image, "<= 0.01x"),
            {"s3_calls": added},
        ),
    ]
