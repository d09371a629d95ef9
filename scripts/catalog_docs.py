"""Write the model table of docs/models.md from the model catalog (src/imagegen/catalog.json).

    python scripts/catalog_docs.py          rewrite the table between the README's markers
    python scripts/catalog_docs.py --check  exit 1 if the README's table is stale

tests/unit/test_catalog.py keeps the README equal to this output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "src" / "imagegen" / "catalog.json"
README = ROOT / "docs" / "models.md"
START, END = "<!-- model table: scripts/catalog_docs.py -->", "<!-- end of model table -->"


def where(row: dict) -> str:
    if row["provider"] == "bedrock":
        if row.get("profile"):
            routes = ", ".join(row["routes_to"])
            return f"Bedrock `{row['profile']}.{row['id']}` from {row['region']} (routes to {routes})"
        return f"Bedrock `{row['id']}` on demand in {row['region']}"
    if row["provider"] == "replicate":
        version = f" (pinned `{row['version'][:12]}…`)" if row.get("version") else " (official)"
        return f"Replicate `{row['id']}`{version}"
    return "your SageMaker endpoint (`sagemaker.endpoint_name`)"


def price(row: dict) -> str:
    usd = row["price"]["usd"]
    return "instance hours" if usd is None else f"${usd:g} ({row['price']['date']})"


def table() -> str:
    data = json.loads(CATALOG.read_text())
    defaults = data["defaults"]
    lines = [
        "| model | runs on | tasks | price per image | on by default |",
        "|---|---|---|---|---|",
    ]
    for name, row in data["models"].items():
        on = [function for function, names in defaults.items() if name in names]
        if row["provider"] == "sagemaker":
            on = ["when `sagemaker.endpoint_name` is set"]
        lines.append(
            f"| `{name}` | {where(row)} | {', '.join(row['tasks'])} | {price(row)} | {', '.join(on) or 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    text = README.read_text()
    if text.count(START) != 1 or text.count(END) != 1:
        sys.exit(f"docs/models.md must hold the model table's markers exactly once: {START} ... {END}")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    fresh = f"{head}{START}\n{table()}\n{END}{tail}"
    if "--check" in argv:
        return 0 if fresh == text else 1
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
