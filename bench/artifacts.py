"""Artifacts: each function zip against 16 KB, each layer zipped and unzipped, and each function
unzipped with its layers against Lambda's 250 MB limit (function + layers, unzipped). Also the
architecture table: Lambda duration prices x86_64 vs arm64 (arm64 ~20% less per GB-second)."""

from __future__ import annotations

import re
import zipfile

from bench import ROOT, Figure, check, prices

FUNCTION_LIMIT = 16 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024


def unzipped(path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def function_layers() -> dict[str, list[str]]:
    """Each function's layers, from terraform/functions.tf (`layers = ["imagegen", "vendor"]` per function)."""
    text = (ROOT / "terraform" / "functions.tf").read_text()
    found = {}
    for match in re.finditer(r"^\s{4}(\w+)\s*=\s*\{[^{}]*?\n\s*layers\s*=\s*\[([^\]]*)\]", text, re.M):
        found[match.group(1)] = re.findall(r'"(\w+)"', match.group(2))
    return found


def run(ctx) -> list[Figure]:
    figures = []
    layers = {p.stem: p for p in sorted((ROOT / "dist" / "layers").glob("*.zip"))}
    for path in sorted((ROOT / "dist" / "functions").glob("*.zip")):
        size = path.stat().st_size
        figures.append(
            Figure(
                "artifacts",
                f"function zip {path.stem}",
                size / 1024,
                FUNCTION_LIMIT / 1024,
                "KB",
                "16 KB target",
                "<= 1x",
                check(size / FUNCTION_LIMIT, "<= 1x"),
            )
        )
    for name, path in layers.items():
        figures.append(
            Figure("artifacts", f"layer {name} zipped", path.stat().st_size / 2**20, 250, "MB", "Lambda 250 MB")
        )
        figures.append(
            Figure("artifacts", f"layer {name} unzipped", unzipped(path) / 2**20, 250, "MB", "Lambda 250 MB")
        )
    uses = function_layers()
    for path in sorted((ROOT / "dist" / "functions").glob("*.zip")):
        names = uses.get(path.stem, list(layers))
        total = unzipped(path) + sum(unzipped(layers[n]) for n in names if n in layers)
        figures.append(
            Figure(
                "artifacts",
                f"{path.stem} + layers ({'+'.join(names)}) unzipped",
                total / 2**20,
                250,
                "MB",
                "Lambda 250 MB",
                "<= 1x",
                check(total / UNZIPPED_LIMIT, "<= 1x"),
            )
        )
    arm, x86 = prices.LAMBDA_GB_SECOND["arm64"], prices.LAMBDA_GB_SECOND["x86_64"]
    figures.append(
        Figure(
            "arch",
            "Lambda $ per GB-s, arm64 vs x86_64",
            arm,
            x86,
            "$",
            "x86_64",
            "<= 0.8x",
            check(round(arm / x86, 4), "<= 0.8x"),
        )
    )
    return figures
