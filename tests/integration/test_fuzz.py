"""Property-based fuzzing of every route of functions/routes.json through the local HTTP API server.

Random and hostile requests (JSON with odd numbers and deep nesting, garbage bytes, truncated and
hostile multipart, wrong charsets and content types, odd query strings and path ids) must never
get a 5xx or a stack trace: every error is the JSON shape with a 4xx, and a rejected request writes
nothing to S3. `make test` runs FUZZ_EXAMPLES (default 200) per route; `make fuzz` runs 10,000 per
route and prints the count of each status per route.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from localdev.fake_replicate import render, signed_headers
from tests.integration.test_generate_api import models  # noqa: F401 (the fake Bedrock/SageMaker, as a fixture)

ROUTES = json.loads((Path(__file__).resolve().parents[2] / "functions" / "routes.json").read_text())
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
CHECK_S3 = os.environ.get("FUZZ_CHECK_S3", "1") == "1"  # no write by a rejected request (FUZZ_CHECK_S3=0: off)
COUNTS: dict[str, Counter] = defaultdict(Counter)

FIELDS = [
    "prompt",
    "message",
    "width",
    "height",
    "seed",
    "steps",
    "cfg_scale",
    "n",
    "model",
    "provider",
    "image",
    "image_url",
    "url",
    "input",
    "negative_prompt",
    "size",
    "id",
    "status",
    "output",
]
ODD_NUMBERS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e999",
    "1e-400",
    "123456789012345678901234567890",
    "-0",
    "0.0",
    "1.5",
    "3",
    "-7",
    "2147483648",
    "1E5",
]


def odd_json() -> st.SearchStrategy[str]:
    """JSON text (not always valid), with numbers Python's json accepts and the providers do not."""
    scalar = st.one_of(
        st.sampled_from(ODD_NUMBERS),
        st.text(max_size=30).map(json.dumps),
        st.sampled_from(["true", "false", "null", '""', '"' + "x" * 3000 + '"']),
        st.just(json.dumps(__import__("base64").b64encode(render(b"fuzz")).decode())),
        st.sampled_from(['"https://example.com/a.png"', '"http://127.0.0.1/x"', '"file:///etc/passwd"']),
    )
    value = st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
            st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5).map(
                lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}"
            ),
        ),
        max_leaves=12,
    )
    deep = st.integers(100, 50_000).map(lambda n: '{"prompt": "x", "input": ' + "[" * n + "]" * n + "}")
    truncated = value.map(lambda text: text[: max(1, len(text) // 2)])
    return st.one_of(value, value, deep, truncated)


def multipart_body() -> st.SearchStrategy[tuple[bytes, str]]:
    """Multipart bodies: real image parts, text parts in odd charsets and bytes, truncated or broken framing."""
    boundary = "fuzz-boundary"
    part = st.tuples(
        st.sampled_from(["image", "image[]", "image_url", "url", "model", "input", "mask", "prompt", "x"]),
        st.one_of(
            st.binary(max_size=64),
            st.just(render(b"part")),
            st.sampled_from(
                [b"\xff\xfe\xfd", b"{}", b'{"style": NaN}', b"https://example.com/a.png", b"catacolabs/cartoonify"]
            ),
        ),
        st.sampled_from(
            [
                "",
                "text/plain",
                "text/plain; charset=klingon",
                "image/png",
                "application/octet-stream",
                "text/plain; charset=latin-1",
            ]
        ),
    )

    def build(parts, cut, framing):
        body = b""
        for name, value, content_type in parts:
            filename = '; filename="f.png"' if name.startswith("image") else ""
            body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n'.encode()
            if content_type:
                body += f"Content-Type: {content_type}\r\n".encode()
            body += b"\r\n" + value + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        if cut:
            body = body[: len(body) * cut // 10]
        kinds = {
            "ok": f"multipart/form-data; boundary={boundary}",
            "none": "multipart/form-data",
            "wrong": "multipart/form-data; boundary=other",
            "empty": 'multipart/form-data; boundary=""',
        }
        return body, kinds[framing]

    return st.builds(
        build, st.lists(part, max_size=6), st.integers(0, 9), st.sampled_from(["ok", "ok", "none", "wrong", "empty"])
    )


def request_strategy(route_key: str) -> st.SearchStrategy[dict]:
    method, template = route_key.split(" ", 1)
    ids = st.one_of(
        st.text(alphabet="0123456789abcdef", min_size=32, max_size=32),
        st.sampled_from(["..", "%2e%2e", "x" * 300, "0" * 32, "%00", "é"]),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=40),
    )
    path = ids.map(lambda i: re.sub(r"\{\w+\}", lambda _: i, template)) if "{" in template else st.just(template)
    content_types = st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
            "application/json; charset=klingon",
            "application/x-www-form-urlencoded",
            "image/png",
            "application/xml",
        ]
    )
    json_body = st.tuples(odd_json().map(str.encode), content_types)
    raw_body = st.tuples(st.binary(max_size=300), content_types)
    body = st.one_of(json_body, json_body, raw_body, multipart_body())
    query = st.dictionaries(
        st.sampled_from(["prompt", "width", "n", "job_id", "seed", "provider", "x"]),
        st.one_of(st.sampled_from(ODD_NUMBERS), st.text(max_size=20)),
        max_size=3,
    )
    return st.fixed_dictionaries({"method": st.just(method), "path": path, "body": body, "query": query})


def send(api: str, req: dict, secret: str | None = None) -> requests.Response:
    """The request; to the webhook route, signed with the fake Replicate's secret, so that what lies behind
    the signature check (the one route without an API key) is fuzzed too."""
    data, content_type = req["body"]
    headers = {"content-type": content_type} if content_type else {}
    if req["method"] == "GET":
        data = None
    if secret and req["path"].startswith("/v1/webhooks/"):
        headers |= {k: v for k, v in signed_headers(secret, data or b"").items() if k != "content-type"}
    return requests.request(
        req["method"], api + req["path"], params=req["query"], data=data, headers=headers, timeout=60
    )


JOB_ID = re.compile(r"[0-9a-f]{32}")
WRITES = frozenset({"PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "CreateMultipartUpload"})


class S3Writes:
    """Every key the handlers write, as they write it: the local server runs them in this process, and
    every client imagegen.aws makes comes from its one session (aws.session()), so a hook on the session is on
    whichever client the handlers use (each test's cache clear makes new ones): no listing per example."""

    def __init__(self):
        self.keys: list[str] = []

    def __call__(self, params, model, **_):
        if model.name in WRITES:
            self.keys.append(str(params.get("Key", "")))


def all_keys(s3, bucket: str) -> set[str]:
    found = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found |= {item["Key"] for item in page.get("Contents", [])}
    return found


def job_ids(keys) -> set[str]:
    return {match.group(0) for key in keys if (match := JOB_ID.search(key))}


@pytest.fixture(scope="module")
def s3_writes():
    from imagegen import aws

    writes = S3Writes()
    session = aws.session()  # the session aws.client() makes every client from
    session.register("before-parameter-build.s3", writes, unique_id="fuzz-s3-writes")
    yield writes
    session.unregister("before-parameter-build.s3", unique_id="fuzz-s3-writes")


def test_the_write_hook_sees_what_a_valid_request_writes(api, models, s3_writes):  # noqa: F811
    # The "nothing written" check below is only worth something if this hook sees the handlers' writes.
    before = len(s3_writes.keys)
    response = requests.post(f"{api}/v1/images/generations", json={"prompt": "a lighthouse"}, timeout=30)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    written = s3_writes.keys[before:]
    assert f"jobs/{job_id}.json" in written and any(key.startswith("images/") for key in written)


@pytest.mark.parametrize("route_key", list(ROUTES))
def test_no_request_gets_a_5xx(api, fake_replicate, models, analysis_models, s3, bucket, s3_writes, route_key):  # noqa: F811
    # Jobs already in the bucket (earlier tests') may still finish and write meanwhile: not this request's.
    known = job_ids(all_keys(s3, bucket)) if CHECK_S3 else set()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(request_strategy(route_key))
    def check(req):
        start = len(s3_writes.keys)
        response = send(api, req, fake_replicate.secret)
        written = s3_writes.keys[start:]
        COUNTS[route_key][response.status_code] += 1
        assert response.status_code < 500, (req, response.status_code, response.text[:500])
        assert "Traceback" not in response.text
        if response.status_code >= 400:
            body = response.json()
            if "error" not in body:  # API Gateway's own answer: a route it has not got (a path with ..)
                assert body == {"message": "Not Found"} and response.status_code == 404, response.text
                return
            error = body["error"]
            assert isinstance(error["code"], str) and isinstance(error["message"], str), response.text
            if CHECK_S3:
                ours = [key for key in written if not (job_ids([key]) & known)]
                assert ours == [], ("a rejected request wrote to S3", req)
        known.update(job_ids(s3_writes.keys[start:]))  # this request's jobs, and whatever finished meanwhile

    check()
    counts = COUNTS[route_key]
    print(
        f"\nfuzz {route_key}: {sum(counts.values())} requests, "
        + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    )
