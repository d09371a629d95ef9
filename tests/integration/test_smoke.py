"""`make smoke` against `make serve AUTH=api_key`: every step passes, it asks before spending, and a
failure names what failed and what to do."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def smoke(served, *args: str, key: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "IMAGEGEN_API_KEY": key or served.key}
    return subprocess.run(
        ["make", "-s", "smoke", f"URL={served.url}", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_make_smoke_passes_on_a_working_deployment_and_spends_only_when_told(served):
    ran = smoke(served, "YES=1")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    lines = ran.stdout
    for step in ("the playground page", "the contract", "a request without a key is refused", "GET /v1/models",
                 "one image on flux-schnell", "the webhook route refuses an unsigned call"):  # fmt: skip
        assert f"ok    {step}" in lines, lines
    assert "smoke test passed" in lines and served.key not in ran.stdout + ran.stderr
    # without YES and without a terminal it does not spend
    asked = smoke(served)
    assert asked.returncode == 0 and "skip  one image" in asked.stdout and "no terminal to ask" in asked.stdout


def test_a_failure_names_what_failed_and_what_to_do(served):
    ran = smoke(served, "YES=1", key="igk_0123456789abcdef_" + "x" * 43)
    assert ran.returncode != 0
    assert "FAIL  GET /v1/models with the key" in ran.stdout and "HTTP 403" in ran.stdout
