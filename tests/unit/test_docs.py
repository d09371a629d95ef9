"""Docs that drift: what the code can say is generated (make docs) and held here; a rename is finished
only when no doc still uses the old name; code and docs say what is, not how it came to be."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

# What users read: the README, docs/ (the upgrade note is the one place for old names), Terraform's
# hand-written README; the module READMEs are generated from their own variables.
DOCS = [ROOT / "README.md", ROOT / "terraform" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS = [path for path in DOCS if path.name != "UPGRADE-0.2.md"]
CODE = [
    *sorted((ROOT / "src").rglob("*.py")),
    *sorted((ROOT / "localdev").glob("*.py")),
    *sorted((ROOT / "scripts").glob("*.py")),
    *sorted((ROOT / "bench").glob("*.py")),
    *sorted((ROOT / "cli").glob("*.py")),
    *sorted((ROOT / "terraform").rglob("*.tf")),
    ROOT / "Makefile",
]
# Words about the project's history, not about what it is.
HISTORY = re.compile(
    r"\(was `|new in 0\.\d|\bused to be\b|\bpreviously\b|\bformerly\b|\bissue \d+|\bround[- ]\d\b|the redesign",
    re.IGNORECASE,
)


def old_inputs() -> list[str]:
    """The left column of the upgrade note's Terraform table: the 0.1 input names (less those that are
    still the name of an output, such as bucket_name, which the docs rightly use)."""
    text = (ROOT / "docs" / "UPGRADE-0.2.md").read_text()
    table = text.split("| 0.1 input | 0.2 input |", 1)[1].split("\n\n", 1)[0]
    outputs = set(re.findall(r'^output "([a-z_]+)"', (ROOT / "terraform" / "outputs.tf").read_text(), re.MULTILINE))
    return [name for name in re.findall(r"^\| `([a-z_]+)` \|", table, re.MULTILINE) if name not in outputs]


def test_every_generated_doc_is_current():
    from scripts import docs

    assert docs.main(["--check"]) == 0, "run: make docs"


def test_the_upgrade_notes_table_is_read():
    names = old_inputs()
    assert len(names) >= 25 and "bedrock_marketplace_subscribe" in names and "function_settings" in names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_doc_uses_an_old_input_name(path):
    # `name` on its own (not `api.name`, not a module's own variable of that name in its generated README)
    text = path.read_text()
    used = [name for name in old_inputs() if re.search(rf"`{re.escape(name)}(?:\s*=[^`]*)?`", text)]
    assert used == [], f"{path.name} still says {used}: docs/UPGRADE-0.2.md maps them to their new names"


@pytest.mark.parametrize("path", DOCS + CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_and_docs_say_what_is_not_how_it_came_to_be(path):
    found = [match.group(0) for match in HISTORY.finditer(path.read_text())]
    assert found == [], f"{path.relative_to(ROOT)}: {found}"
