"""Keep botocore's data for the services the functions call, and nothing else.

    python scripts/slim_botocore.py SITE_PACKAGES SERVICES_FILE

botocore loads its data at every cold start: it lists botocore/data (about 450 service folders) to
know the services, and parses endpoints.json (1.2 MB, every service in every partition) before the
first client exists, then the service's model (S3's: 1.4 MB of JSON, mostly documentation). Lambda
cannot cache any of it between cold starts. The awssdk layer keeps the folders of the services in
SERVICES_FILE, their models with empty documentation strings, and, in endpoints.json, only their
entries (every partition and region stays); the shared files (_retry.json, partitions.json,
sdk-default-configuration.json) stay whole. make bench measures what it saves (get_job's cold start:
about 20 ms of ~160 ms here for the folders and endpoints, more for the documentation).
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path


def services(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def blanked(value):
    """The model with every `documentation` string empty (the key stays: botocore reads some of them),
    docs being for help texts only; the model's shapes, operations and rules are untouched."""
    if isinstance(value, dict):
        return {k: "" if k == "documentation" else blanked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [blanked(v) for v in value]
    return value


def blank_documentation(model: Path) -> None:
    """A service model without its documentation (S3's is 1.4 MB of JSON, 80% prose, parsed at every
    cold start), written back as it came (gzipped or not)."""
    raw = gzip.decompress(model.read_bytes()) if model.suffix == ".gz" else model.read_bytes()
    slimmer = json.dumps(blanked(json.loads(raw)), separators=(",", ":")).encode()
    model.write_bytes(gzip.compress(slimmer, 6, mtime=0) if model.suffix == ".gz" else slimmer)


def slim(site: Path, keep: set[str]) -> tuple[int, int]:
    """(folders removed, endpoint entries removed) from site/botocore/data."""
    data = site / "botocore" / "data"
    missing = sorted(name for name in keep if not (data / name).is_dir())
    if missing:
        raise SystemExit(f"botocore has no data for {', '.join(missing)}: a typo in the services file?")
    removed = 0
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        if folder.name not in keep:
            shutil.rmtree(folder)
            removed += 1
    for model in sorted(data.glob("*/*/service-2.json*")):
        blank_documentation(model)
    endpoints = data / "endpoints.json"
    table = json.loads(endpoints.read_text())
    dropped = 0
    for partition in table["partitions"]:
        entries = partition["services"]
        dropped += len(entries)
        partition["services"] = {name: entry for name, entry in entries.items() if name in keep}
        dropped -= len(partition["services"])
    endpoints.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True))
    return removed, dropped


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    folders, entries = slim(Path(sys.argv[1]), services(Path(sys.argv[2])))
    print(f"botocore data: {folders} service folders and {entries} endpoint entries dropped")
