"""Rewrite the Inputs and Outputs tables of each Terraform module's README from its .tf files.

    python scripts/tf_docs.py          rewrite terraform/README.md and terraform/modules/*/README.md
    python scripts/tf_docs.py --check  exit 1 if any table is out of date (tests/infra checks it too)

The tables are what terraform-docs would print; a small generator of our own because terraform-docs
is a Go binary that our machines cannot download.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parent.parent
MODULE_DIRS = [ROOT / "terraform", *sorted(p for p in (ROOT / "terraform" / "modules").iterdir() if p.is_dir())]


def unquote(value):
    """python-hcl2 keeps string literals in their quotes and expressions in ${...}: undo both."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return value[2:-1]
    return value


def blocks(path: Path, kind: str) -> dict[str, dict]:
    found = {}
    for tf in sorted(path.glob("*.tf")):
        for block in hcl2.loads(tf.read_text()).get(kind, []):
            for name, body in block.items():
                found[unquote(name)] = unquote(body)
    return found


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def inputs_table(path: Path) -> str:
    rows = ["| Name | Description | Type | Default | Required |", "|------|-------------|------|---------|:--------:|"]
    for name, body in blocks(path, "variable").items():
        default = "n/a" if "default" not in body else f"`{json.dumps(body['default'], separators=(', ', ': '))}`"
        required = "no" if "default" in body else "yes"
        rows.append(f"| `{name}` | {cell(body['description'])} | `{cell(body['type'])}` | {default} | {required} |")
    return "\n".join(rows)


def outputs_table(path: Path) -> str:
    outputs = blocks(path, "output")
    if not outputs:
        return "None."
    rows = ["| Name | Description |", "|------|-------------|"]
    rows += [f"| `{name}` | {cell(body['description'])} |" for name, body in outputs.items()]
    return "\n".join(rows)


def render(readme: str, path: Path) -> str:
    for heading, table in (("Inputs", inputs_table(path)), ("Outputs", outputs_table(path))):
        pattern = re.compile(rf"(## {heading}\n\n)(.*?)(?=\n## |\Z)", re.S)
        if not pattern.search(readme):
            readme = readme.rstrip("\n") + f"\n\n## {heading}\n\n"
        readme = pattern.sub(lambda m, t=table: m.group(1) + t + "\n", readme, count=1)
    return readme


def main(argv: list[str]) -> int:
    stale = []
    for path in MODULE_DIRS:
        readme_path = path / "README.md"
        current = readme_path.read_text()
        wanted = render(current, path)
        if wanted != current:
            stale.append(readme_path.relative_to(ROOT))
            if "--check" not in argv:
                readme_path.write_text(wanted)
    if stale and "--check" in argv:
        print("out of date (run python scripts/tf_docs.py):", *stale)
        return 1
    print("rewrote:" if stale else "up to date", *stale)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
