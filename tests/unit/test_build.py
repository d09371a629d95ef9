"""Reproducible zips: the same sources give the same bytes; a function zip holds only its handler."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.build_zip import TooLarge, build
from tests.conftest import ROOT


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_sources_give_identical_zips(tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build(first, ROOT / "src", "python/")
    build(second, ROOT / "src", "python/")
    assert digest(first) == digest(second)
    names = zipfile.ZipFile(first).namelist()
    assert names == sorted(names)
    assert "python/imagegen/api/events.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in zipfile.ZipFile(first).infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_zip_changes_when_a_source_changes(tmp_path):
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text("x = 1\n")
    build(tmp_path / "1.zip", src)
    (src / "handler.py").write_text("x = 2\n")
    build(tmp_path / "2.zip", src)
    assert digest(tmp_path / "1.zip") != digest(tmp_path / "2.zip")


def test_make_build_function_zips_hold_only_their_handler(tmp_path):
    # `make build` itself, for the function zips (the vendor layer needs PyPI and is checked in CI by hand).
    targets = [f"dist/functions/{p.parent.name}.zip" for p in sorted((ROOT / "functions").glob("*/handler.py"))]
    assert targets
    subprocess.run(
        ["make", "-s", "-B", *targets, f"PYTHON={sys.executable}"], cwd=ROOT, check=True, capture_output=True
    )
    for target in targets:
        names = zipfile.ZipFile(ROOT / target).namelist()
        sources = sorted(p.name for p in (ROOT / "functions" / Path(target).stem).glob("*.py"))
        assert names == sources == ["handler.py"], target


def test_a_zip_over_lambdas_direct_upload_limit_is_refused_with_what_to_do(tmp_path, monkeypatch):
    # GIVEN a layer directory that zips to more than the limit (random bytes do not compress)
    monkeypatch.setattr("scripts.build_zip.MAX_DIRECT_UPLOAD_BYTES", 1024 * 1024)
    source = tmp_path / "layer"
    source.mkdir()
    (source / "blob.bin").write_bytes(os.urandom(1024 * 1024 + 4096))
    # WHEN it is built THEN the build fails, says why and what to do, and leaves no zip behind
    with pytest.raises(TooLarge, match="over Lambda's 50 MiB direct-upload limit: drop packages"):
        build(tmp_path / "big.zip", source, "python/")
    assert not list(tmp_path.glob("big.zip*"))
    # AND just under it, the zip is written
    (source / "blob.bin").write_bytes(os.urandom(1024 * 1024 - 4096))
    build(tmp_path / "fits.zip", source, "python/")
    assert (tmp_path / "fits.zip").stat().st_size <= 1024 * 1024


def test_the_catalog_ships_in_the_imagegen_layer(tmp_path):
    build(tmp_path / "imagegen.zip", ROOT / "src", "python/")
    assert "python/imagegen/catalog.json" in zipfile.ZipFile(tmp_path / "imagegen.zip").namelist()


def test_make_deploy_runs_terraform_with_the_operators_aws_untouched(tmp_path):
    # GIVEN an operator signed in with a profile (SSO), and terraform replaced by a recorder
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorder = bin_dir / "terraform"
    recorder.write_text(
        '#!/bin/sh\nenv | grep "^AWS_" | sort > "$RECORD_DIR/env.$$"\necho "$@" >> "$RECORD_DIR/args"\n'
    )
    recorder.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AWS_PROFILE": "ops-sso",
        "AWS_REGION": "eu-west-1",
        "RECORD_DIR": str(tmp_path),
        "TF_PLUGIN_DIR": str(tmp_path),  # tf-init: no registry probe
    }
    # WHEN `make deploy` runs (its zips taken as built)
    subprocess.run(["make", "-s", "-o", "build", "deploy"], cwd=ROOT, env=env, check=True, capture_output=True)
    # THEN terraform ran init and apply, each seeing exactly the operator's AWS settings:
    # no LocalStack endpoint, no `test` credentials
    args = (tmp_path / "args").read_text().splitlines()
    assert [line.split()[1] for line in args] == ["init", "apply"]
    seen = [path.read_text().splitlines() for path in tmp_path.glob("env.*")]
    assert len(seen) == 2
    for lines in seen:
        assert lines == ["AWS_PROFILE=ops-sso", "AWS_REGION=eu-west-1"]


def test_the_local_targets_still_get_localstack(tmp_path):
    # `make -n` prints the recipes: serve and the tests carry LocalStack's endpoint and test credentials
    for target in ("serve", "test-integration", "api-key NAME=x"):
        dry = subprocess.run(["make", "-n", *target.split()], cwd=ROOT, capture_output=True, text=True, check=True)
        line = next(line for line in dry.stdout.splitlines() if "localdev.serve" in line or "pytest" in line
                    or "api_key.py" in line)  # fmt: skip
        assert 'AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"' in line, target
        assert 'AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"' in line, target
