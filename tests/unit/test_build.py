"""Reproducible zips: the same sources give the same bytes; a function zip holds only its handler."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.build_zip import TooLarge, build
from tests.conftest import ROOT


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LAMBDA_PYTHON = os.environ.get("LAMBDA_PYTHON") or str(
    next(Path.home().glob(".pyenv/versions/3.12.*/bin/python3.12"), "")
)


@pytest.fixture(scope="module")
def lambda_python() -> str:
    """Lambda's runtime Python (3.12), which compiles the zips' bytecode (the Makefile's LAMBDA_PYTHON)."""
    if not LAMBDA_PYTHON or not Path(LAMBDA_PYTHON).exists():
        pytest.fail("Lambda's Python 3.12 is needed to build the zips (set LAMBDA_PYTHON)", pytrace=False)
    return LAMBDA_PYTHON


def test_same_sources_give_identical_zips_with_bytecode_for_lambdas_python(tmp_path, lambda_python):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build(first, ROOT / "src", "python/", lambda_python, "/opt")
    build(second, ROOT / "src", "python/", lambda_python, "/opt")
    assert digest(first) == digest(second)
    archive = zipfile.ZipFile(first)
    names = archive.namelist()
    assert names == sorted(names)
    assert "python/imagegen/api/events.py" in names
    # every module has its bytecode beside it, for 3.12, hash-checked never (no time in it), so a
    # read-only /opt never compiles at a cold start; stale bytecode of the build machine never ships
    sources = [n for n in names if n.endswith(".py")]
    compiled = {n for n in names if n.endswith(".pyc")}
    assert sources and compiled == {
        f"{n.rsplit('/', 1)[0]}/__pycache__/{n.rsplit('/', 1)[1][:-3]}.cpython-312.pyc" for n in sources
    }
    flags = {int.from_bytes(archive.read(n)[4:8], "little") for n in compiled}
    assert flags == {0b01}  # PEP 552: hash-based (bit 0), unchecked (bit 1 clear)
    assert b"/opt/python/imagegen/api/events.py" in archive.read(
        "python/imagegen/api/__pycache__/events.cpython-312.pyc"
    )
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_without_a_python_a_zip_holds_sources_only(tmp_path):
    (tmp_path / "src" / "__pycache__").mkdir(parents=True)
    (tmp_path / "src" / "handler.py").write_text("x = 1\n")
    (tmp_path / "src" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"stale")
    build(tmp_path / "a.zip", tmp_path / "src")
    assert zipfile.ZipFile(tmp_path / "a.zip").namelist() == ["handler.py"]


def test_zip_changes_when_a_source_changes(tmp_path):
    src = tmp_path / "fn"
    src.mkdir()
    (src / "handler.py").write_text("x = 1\n")
    build(tmp_path / "1.zip", src)
    (src / "handler.py").write_text("x = 2\n")
    build(tmp_path / "2.zip", src)
    assert digest(tmp_path / "1.zip") != digest(tmp_path / "2.zip")


def test_make_build_function_zips_hold_only_their_handler_and_its_bytecode(tmp_path, lambda_python):
    # `make build` itself, for the function zips (the vendor layer needs PyPI and is checked in CI by hand).
    targets = [f"dist/functions/{p.parent.name}.zip" for p in sorted((ROOT / "functions").glob("*/handler.py"))]
    assert targets
    subprocess.run(
        ["make", "-s", "-B", *targets, f"PYTHON={sys.executable}", f"LAMBDA_PYTHON={lambda_python}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    for target in targets:
        names = zipfile.ZipFile(ROOT / target).namelist()
        sources = sorted(p.name for p in (ROOT / "functions" / Path(target).stem).glob("*.py"))
        assert sources == ["handler.py"], target
        assert names == ["__pycache__/handler.cpython-312.pyc", "handler.py"], target


def test_make_build_refuses_without_lambdas_python(tmp_path):
    answer = subprocess.run(
        [
            "make",
            "-s",
            "-B",
            "dist/functions/get_job.zip",
            f"PYTHON={sys.executable}",
            f"LAMBDA_PYTHON={sys.executable}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if sys.version.startswith("3.12."):
        pytest.skip("the test interpreter is Lambda's own version")
    assert answer.returncode != 0 and "Python 3.12 (Lambda's runtime) is needed" in answer.stderr


def test_the_awssdk_layer_keeps_botocore_data_for_exactly_the_services_the_code_calls(tmp_path):
    """Every service a client is made for (aws.client / runtime_client literals in the package) is in
    layers/awssdk/services.txt, and the slimmed data answers for those and no others."""
    import re

    from scripts import slim_botocore

    keep = slim_botocore.services(ROOT / "layers" / "awssdk" / "services.txt")
    code = "\n".join(p.read_text() for p in (ROOT / "src" / "imagegen").rglob("*.py"))
    called = set(re.findall(r"""(?:aws\.client|runtime_client|client)\(\s*["']([a-z0-9-]+)["']""", code))
    assert called and called <= keep, called - keep
    # slim a copy of the dev venv's botocore (the layer's pins) and ask it for clients
    import botocore

    site = tmp_path / "site"
    shutil.copytree(Path(botocore.__file__).parent, site / "botocore")
    slim_botocore.slim(site, keep)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import botocore, botocore.session;"
        "assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__;"
        "s = botocore.session.get_session();"
        "print(sorted(s.get_available_services()));"
        "keys = dict(region_name='us-west-2', aws_access_key_id='a', aws_secret_access_key='b');"
        "clients = [s.create_client(n, **keys) for n in sys.argv[2:]];"
        # each resolves its endpoint from its (slimmed) model and rules, as a first call does
        "[c.meta.service_model.client_context_parameters for c in clients];"
        "s3 = clients[sys.argv[2:].index('s3')];"
        "print(s3.generate_presigned_url('get_object', Params={'Bucket': 'b', 'Key': 'k'}));"
        "s.create_client('dynamodb', **keys)"
    )
    aws_itself = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}  # not LocalStack
    answer = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(site), *sorted(keep)], capture_output=True, text=True, env=aws_itself
    )
    listed, presigned = answer.stdout.strip().splitlines()
    assert eval(listed) == sorted(keep), answer.stderr
    assert presigned.startswith("https://") and "/k?" in presigned  # an endpoint resolved from the rules
    assert "UnknownServiceError" in answer.stderr  # a service not kept has no client


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
                    or "keys.py" in line)  # fmt: skip
        assert 'AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"' in line, target
        assert 'AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}"' in line, target
