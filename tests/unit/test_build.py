"""Reproducible zips: the same sources give the same bytes; a function zip holds only its handler."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from scripts.build_zip import build
from tests.conftest import ROOT


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_sources_give_identical_zips(tmp_path):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build(first, ROOT / "layers" / "imagegen", "python/")
    build(second, ROOT / "layers" / "imagegen", "python/")
    assert digest(first) == digest(second)
    names = zipfile.ZipFile(first).namelist()
    assert names == sorted(names)
    assert "python/imagegen/http.py" in names
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
