"""Write a reproducible zip: sorted entries, fixed timestamps and permissions.

The same sources give byte-identical zips, so Terraform's source_code_hash only
changes when the code does. A zip over Lambda's 50 MB direct-upload limit (functions and layers
alike: CreateFunction / PublishLayerVersion with the zip inline) is refused here, at build time,
with what to do, rather than by AWS at apply time (an emulator accepts any size).

usage: build_zip.py OUTPUT.zip SOURCE_DIR [PREFIX]
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
# Lambda quotas: "50 MB (zipped, when uploaded directly)" for a deployment package or layer.
MAX_DIRECT_UPLOAD_BYTES = 50 * 1024 * 1024


class TooLarge(SystemExit):
    """The zip cannot be uploaded to Lambda directly."""


def files_under(source: Path) -> list[Path]:
    found = []
    for root, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        found += [Path(root) / n for n in names if not n.endswith(SKIP_SUFFIXES)]
    return sorted(found, key=lambda p: p.relative_to(source).as_posix())


def build(output: Path, source: Path, prefix: str = "") -> int:
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".zip.tmp")
    files = files_under(source)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in files:
            info = zipfile.ZipInfo(prefix + path.relative_to(source).as_posix(), date_time=FIXED_TIME)
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


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    count = build(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else "")
    print(f"{sys.argv[1]}: {count} files")
