"""Write a reproducible zip: sorted entries, fixed timestamps and permissions, and bytecode.

The same sources give byte-identical zips, so Terraform's source_code_hash only
changes when the code does. A zip over Lambda's 50 MB direct-upload limit (functions and layers
alike: CreateFunction / PublishLayerVersion with the zip inline) is refused here, at build time,
with what to do, rather than by AWS at apply time (an emulator accepts any size).

Bytecode: Lambda's file system is read-only, so Python cannot write `__pycache__` there and every
module shipped as source alone is compiled again at every cold start (make bench: boto3 and botocore
from source made get_job's cold start 1.8x a handler on the runtime's precompiled SDK). With
`--python` (Lambda's runtime Python, e.g. 3.12: bytecode is per version) every .py is compiled
beside its source as `__pycache__/<name>.cpython-312.pyc`, `unchecked-hash` (the file holds a hash
of its source, never a time, and Python loads it without reading the source again), with the path
the module will have on Lambda (`--root`: /opt for a layer, /var/task for a function) so tracebacks
read as on Lambda and the bytes do not depend on where it was built.

usage: build_zip.py OUTPUT.zip SOURCE_DIR [PREFIX] [--python PYTHON --root /opt|/var/task]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
# Lambda quotas: "50 MB (zipped, when uploaded directly)" for a deployment package or layer.
MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024


class TooLarge(SystemExit):
    """The zip cannot be uploaded to Lambda directly."""


def files_under(source: Path, bytecode: bool = False) -> list[Path]:
    """The files to zip: sources, never stale bytecode; with `bytecode`, the .pyc compiled here too."""
    found = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS or (bytecode and d == "__pycache__"))
        in_cache = Path(root).name == "__pycache__"
        found += [Path(root) / n for n in names if in_cache or not n.endswith(SKIP_SUFFIXES)]
    return sorted(found, key=lambda p: p.relative_to(source).as_posix())


def compile_tree(tree: Path, python: str, root: str) -> str:
    """Compile every .py under `tree` (a scratch copy) with `python`; returns its cache tag (cpython-312)."""
    tag = subprocess.run(
        [python, "-c", "import sys; print(sys.implementation.cache_tag)"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-d", root, str(tree)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return tag


def build(output: Path, source: Path, prefix: str = "", python: str | None = None, root: str = "") -> int:
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".zip.tmp")
    with tempfile.TemporaryDirectory(prefix="build-zip-") as scratch:
        tree = source
        if python:
            tree = Path(scratch) / "tree"
            shutil.copytree(source, tree, ignore=shutil.ignore_patterns(*SKIP_DIRS, *(f"*{s}" for s in SKIP_SUFFIXES)))
            compile_tree(tree, python, f"{root.rstrip('/')}/{prefix}".rstrip("/"))
        files = files_under(tree, bytecode=bool(python))
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path in files:
                info = zipfile.ZipInfo(prefix + path.relative_to(tree).as_posix(), date_time=FIXED_TIME)
                info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes(), compresslevel=9)
    size = tmp.stat().st_size
    if size > MAX_DIRECT_UPLOAD_BYTES:
        tmp.unlink()
        raise TooLarge(
            f"{output}: {size / 2**20:.1f} MiB zipped is over Lambda's 50 MiB direct-upload limit: "
            "drop packages from its requirements (or split the layer) until it fits"
        )
    tmp.replace(output)
    return len(files)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(usage=__doc__.rsplit("usage: ", 1)[1])
    parser.add_argument("output", type=Path)
    parser.add_argument("source", type=Path)
    parser.add_argument("prefix", nargs="?", default="")
    parser.add_argument("--python", help="compile bytecode with this interpreter (Lambda's runtime version)")
    parser.add_argument("--root", default="", help="where the zip is unpacked on Lambda: /opt or /var/task")
    args = parser.parse_args(argv)
    if args.python and not args.root:
        parser.error("--python needs --root (/opt for a layer, /var/task for a function)")
    count = build(args.output, args.source, args.prefix, args.python, args.root)
    print(f"{args.output}: {count} files")


if __name__ == "__main__":
    main(sys.argv[1:])
