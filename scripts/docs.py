"""Write the tables of the docs that the code can say itself, between their markers.

    python scripts/docs.py          rewrite them (make docs runs this and the other generators)
    python scripts/docs.py --check  exit 1 if any is stale (tests/unit/test_docs.py runs it)

- README.md, Routes: every route of functions/routes.json (its function, what it does as the contract
  says it, who may call it), then the functions behind no route, from terraform/functions.tf.
- terraform/README.md, Functions: each function's description, layers and environment, from
  terraform/functions.tf (the environment is also exactly docs/configuration.md's: tests/infra).
- docs/deploy.md, Metrics: every metric the code emits (logs.metric), from the code.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "scripts"), str(ROOT)]


def marked(name: str) -> tuple[str, str]:
    return f"<!-- {name}: scripts/docs.py -->", f"<!-- end of {name} -->"


def terraform_functions() -> dict[str, dict]:
    import hcl2

    blocks = hcl2.loads((ROOT / "terraform" / "functions.tf").read_text())["locals"]
    found = next(block["functions"] for block in blocks if "functions" in block)
    return {
        name: {
            "description": spec["description"].strip('"'),
            "layers": [layer.strip('"') for layer in spec["layers"]],
            "environment": list(spec.get("environment") or {}),
        }
        for name, spec in found.items()
    }


def routes_table() -> str:
    import openapi

    from imagegen import catalog

    routes = json.loads((ROOT / "functions" / "routes.json").read_text())
    defaults = catalog.data()["defaults"]
    rows = ["| route | function | does | who may call it |", "|---|---|---|---|"]
    for key, route in routes.items():
        summary = openapi.OPERATIONS[key]["summary"]
        if route["function"] in defaults and key.startswith("POST"):
            summary += f"; default models: {', '.join(defaults[route['function']])}"
        who = "API key (`auth`)" if route["auth"] else "anyone" if route["function"] == "web" else "signature"
        rows.append(f"| `{key}` | `{route['function']}` | {summary} | {who} |")
    routed = {route["function"] for route in routes.values()}
    for name, spec in terraform_functions().items():
        if name not in routed:
            rows.append(f"| (no route) | `{name}` | {spec['description']} | — |")
    return "\n".join(rows)


def functions_table() -> str:
    rows = ["| function | does | layers | environment (besides `BUCKET_NAME`, `LOG_LEVEL`, `METRICS_NAMESPACE`) |"]
    rows.append("|---|---|---|---|")
    for name, spec in terraform_functions().items():
        env = ", ".join(f"`{variable}`" for variable in spec["environment"]) or "none"
        rows.append(f"| `{name}` | {spec['description']} | {', '.join(spec['layers'])} | {env} |")
    return "\n".join(rows)


def metrics_list() -> str:
    found: set[str] = set()
    for path in sorted((ROOT / "src" / "imagegen").rglob("*.py")):
        found |= set(re.findall(r"""metric\(\s*["']([A-Za-z]+)["']""", path.read_text()))
    return ", ".join(f"`{name}`" for name in sorted(found))


TABLES = {
    ROOT / "README.md": ("routes table", routes_table),
    ROOT / "terraform" / "README.md": ("functions table", functions_table),
    ROOT / "docs" / "deploy.md": ("metrics list", metrics_list),
}


def render(text: str, name: str, make) -> str:
    start, end = marked(name)
    if text.count(start) != 1 or text.count(end) != 1:
        raise SystemExit(f"the markers {start} ... {end} must be there once")
    before, rest = text.split(start)
    _, after = rest.split(end)
    return f"{before}{start}\n{make()}\n{end}{after}"


def main(argv: list[str]) -> int:
    stale = []
    for path, (name, make) in TABLES.items():
        text = path.read_text()
        wanted = render(text, name, make)
        if wanted != text:
            stale.append(path.relative_to(ROOT))
            if "--check" not in argv:
                path.write_text(wanted)
    if stale:
        print(("stale: " if "--check" in argv else "rewrote: ") + ", ".join(map(str, stale)))
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
