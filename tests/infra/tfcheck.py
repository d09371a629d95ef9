"""A small static checker for our Terraform, for machines without `terraform validate`.

It parses HCL with python-hcl2 (8.x: blocks are lists of dicts marked `__is_block__`, quoted
labels and literal strings keep their quotes, expressions are wrapped in `${...}`) and checks:

- resources and data sources against the hashicorp/aws provider schema
  (`terraform providers schema -json`): known types, known settable arguments, required
  arguments and required nested blocks, recursively, `dynamic` blocks included;
- references: `var.X`, `local.X`, `module.X.Y`, `aws_T.N(.attr)`, `data.aws_T.N(.attr)` point at
  things the module declares (and attributes the schema knows);
- module calls pass only declared variables, and every variable without a default.

References are found in the source text with string literals and comments blanked out, except
the `${...}` interpolations inside strings, so a description that mentions `var.x` is not a
reference.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "aws-provider-schema.json"

META_ARGUMENTS = {"count", "for_each", "depends_on", "provider", "lifecycle"}
MODULE_META_ARGUMENTS = {"source", "version", "count", "for_each", "depends_on", "providers"}


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def unquote(value: Any) -> Any:
    """`"text"` -> `text` for literal strings and block labels; anything else unchanged."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def is_block_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(i, dict) and i.get("__is_block__") for i in value)


def body_items(body: dict):
    """The arguments and nested blocks of a block body, without python-hcl2's bookkeeping keys."""
    for key, value in body.items():
        if not key.startswith("__"):
            yield key, value


def labelled(blocks: list[dict] | None, depth: int):
    """Yield (labels..., body) from python-hcl2's nesting of labelled blocks."""
    for item in blocks or []:
        yield from _labelled(item, depth, ())


def _labelled(item: dict, depth: int, labels: tuple):
    if depth == 0:
        yield (*labels, item)
        return
    for key, value in body_items(item):
        yield from _labelled(value, depth - 1, (*labels, unquote(key)))


def code_only(text: str) -> str:
    """`text` with comments and the literal parts of strings blanked; `${...}` inside strings kept."""
    out: list[str] = []
    i, n = 0, len(text)
    # A stack of contexts: "code" (with its brace depth) or "string".
    stack: list[list] = [["code", 0]]
    while i < n:
        kind = stack[-1][0]
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if kind == "code":
            if c == "#" or (c == "/" and nxt == "/"):
                end = text.find("\n", i)
                end = n if end == -1 else end
                out.append(" " * (end - i))
                i = end
                continue
            if c == "/" and nxt == "*":
                end = text.find("*/", i + 2)
                end = n if end == -1 else end + 2
                out.append(re.sub(r"[^\n]", " ", text[i:end]))
                i = end
                continue
            if c == "<" and nxt == "<" and re.match(r"<<-?([A-Za-z_]\w*)\n", text[i:]):
                m = re.match(r"<<-?([A-Za-z_]\w*)\n", text[i:])
                tag = m.group(1)
                end_match = re.compile(rf"^\s*{tag}\s*$", re.M).search(text, i + m.end())
                end = n if end_match is None else end_match.end()
                out.append(re.sub(r"[^\n]", " ", text[i:end]))
                i = end
                continue
            if c == '"':
                stack.append(["string", 0])
                out.append(" ")
                i += 1
                continue
            if c == "{":
                stack[-1][1] += 1
            elif c == "}":
                if stack[-1][1] == 0 and len(stack) > 1:
                    stack.pop()  # end of an interpolation: back into the string
                    out.append(" ")
                    i += 1
                    continue
                stack[-1][1] -= 1
            out.append(c)
            i += 1
        else:
            if c == "\\":
                out.append("  " if nxt != "\n" else " \n")
                i += 2
                continue
            if c == "$" and nxt == "$" and text[i + 2 : i + 3] == "{":
                out.append("   ")  # $${ is a literal "${"
                i += 3
                continue
            if c in "$%" and nxt == "{":
                stack.append(["code", 0])
                out.append("  ")
                i += 2
                continue
            if c == '"':
                stack.pop()
                out.append(" ")
                i += 1
                continue
            out.append("\n" if c == "\n" else " ")
            i += 1
    return "".join(out)


IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
INDEX = r"(?:\[[^\]]*\])?"
REF_PATTERNS = {
    "var": re.compile(rf"(?<![\w.])var\.({IDENT})"),
    "local": re.compile(rf"(?<![\w.])local\.({IDENT})"),
    "module": re.compile(rf"(?<![\w.])module\.({IDENT}){INDEX}(?:\.({IDENT}))?"),
    "data": re.compile(rf"(?<![\w.])data\.(aws_\w+)\.({IDENT}){INDEX}(?:\.({IDENT}))?"),
    "resource": re.compile(rf"(?<![\w.])(aws_\w+)\.({IDENT}){INDEX}(?:\.({IDENT}))?"),
}


@dataclass
class Module:
    """Everything one Terraform module directory declares."""

    path: Path
    files: dict[str, str] = field(default_factory=dict)  # name -> source text
    parsed: dict[str, dict] = field(default_factory=dict)  # name -> python-hcl2 result
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    module_calls: dict[str, dict] = field(default_factory=dict)
    providers: list[str] = field(default_factory=list)

    @classmethod
    def from_sources(cls, path: Path, sources: dict[str, str]) -> Module:
        module = cls(path=path)
        for name, text in sources.items():
            module.files[name] = text
            module.parsed[name] = hcl2.loads(text)
        for doc in module.parsed.values():
            for name, body in labelled(doc.get("variable"), 1):
                module.variables[name] = body
            for name, body in labelled(doc.get("output"), 1):
                module.outputs[name] = body
            for block in doc.get("locals", []):
                module.locals.update(dict(body_items(block)))
            for rtype, name, body in labelled(doc.get("resource"), 2):
                module.resources[(rtype, name)] = body
            # A check block's scoped data source is checked like any other (referenced only inside it).
            scoped = [data for _, check in labelled(doc.get("check"), 1) for data in check.get("data", [])]
            for dtype, name, body in labelled([*doc.get("data", []), *scoped], 2):
                module.data[(dtype, name)] = body
            for name, body in labelled(doc.get("module"), 1):
                module.module_calls[name] = body
            for name, _body in labelled(doc.get("provider"), 1):
                module.providers.append(name)
        return module

    @classmethod
    def load(cls, path: Path) -> Module:
        return cls.from_sources(path, {p.name: p.read_text() for p in sorted(path.glob("*.tf"))})

    def code(self) -> dict[str, str]:
        return {name: code_only(text) for name, text in self.files.items()}


def block_schema(schema: dict, kind: str, type_name: str) -> dict | None:
    schemas = schema["resource_schemas" if kind == "resource" else "data_source_schemas"]
    entry = schemas.get(type_name)
    return None if entry is None else entry["block"]


def check_block(body: dict, block: dict, where: str, *, top_level: bool = False) -> list[str]:
    """Arguments and nested blocks of `body` against a schema block; returns problems."""
    errors: list[str] = []
    attributes = block.get("attributes", {})
    block_types = block.get("block_types", {})
    present: set[str] = set()
    for key, value in body_items(body):
        if top_level and key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for name, dynamic in labelled(value, 1):
                present.add(name)
                if name not in block_types:
                    errors.append(f"{where}: unknown block type {name!r} (dynamic)")
                    continue
                contents = dynamic.get("content")
                if not is_block_list(contents):
                    errors.append(f"{where}: dynamic {name!r} has no content block")
                    continue
                for content in contents:
                    errors += check_block(content, block_types[name]["block"], f"{where}.{name}")
            continue
        present.add(key)
        if key in attributes:
            attribute = attributes[key]
            if not (attribute.get("required") or attribute.get("optional")):
                errors.append(f"{where}: {key!r} is computed only and cannot be set")
            elif attribute.get("deprecated"):
                errors.append(f"{where}: {key!r} is deprecated")
            if is_block_list(value):
                errors.append(f"{where}: {key!r} is an argument, written as a block")
        elif key in block_types:
            spec = block_types[key]
            if not is_block_list(value):
                errors.append(f"{where}: {key!r} is a block, written as an argument")
                continue
            max_items = spec.get("max_items") or (1 if spec["nesting_mode"] == "single" else 0)
            if max_items and len(value) > max_items:
                errors.append(f"{where}: at most {max_items} {key!r} block(s), found {len(value)}")
            for item in value:
                errors += check_block(item, spec["block"], f"{where}.{key}")
        else:
            errors.append(f"{where}: unknown argument or block {key!r}")
    for name, attribute in attributes.items():
        if attribute.get("required") and name not in present:
            errors.append(f"{where}: missing required argument {name!r}")
    for name, spec in block_types.items():
        if (spec.get("min_items") or 0) >= 1 and name not in present:
            errors.append(f"{where}: missing required block {name!r}")
    return errors


def check_schema(module: Module, schema: dict) -> list[str]:
    errors: list[str] = []
    for kind, declared, all_types in (
        ("resource", module.resources, "all_resource_types"),
        ("data", module.data, "all_data_source_types"),
    ):
        for (type_name, name), body in declared.items():
            where = f"{module.path.name}: {'data.' if kind == 'data' else ''}{type_name}.{name}"
            if not type_name.startswith("aws_"):
                continue
            block = block_schema(schema, kind, type_name)
            if block is None:
                known = type_name in schema.get(all_types, [])
                errors.append(
                    f"{where}: {'no detailed schema for' if known else 'unknown'} {kind} type {type_name!r}"
                    + (" (add it to the schema file)" if known else "")
                )
                continue
            errors += check_block(body, block, where, top_level=True)
    return errors


def schema_has_attribute(block: dict, name: str) -> bool:
    return name in block.get("attributes", {}) or name in block.get("block_types", {})


def check_references(module: Module, schema: dict, load_child=None) -> list[str]:
    """var/local/module/resource/data references point at declarations (and known attributes)."""
    errors: list[str] = []
    load_child = load_child or (lambda source: Module.load((module.path / source).resolve()))
    for file_name, code in module.code().items():
        where = f"{module.path.name}/{file_name}"
        for match in REF_PATTERNS["var"].finditer(code):
            if match.group(1) not in module.variables:
                errors.append(f"{where}: var.{match.group(1)} is not declared")
        for match in REF_PATTERNS["local"].finditer(code):
            if match.group(1) not in module.locals:
                errors.append(f"{where}: local.{match.group(1)} is not declared")
        for match in REF_PATTERNS["module"].finditer(code):
            name, output = match.group(1), match.group(2)
            call = module.module_calls.get(name)
            if call is None:
                errors.append(f"{where}: module.{name} is not declared")
                continue
            if output is not None:
                child = load_child(unquote(call["source"]))
                if output not in child.outputs:
                    errors.append(f"{where}: module.{name} has no output {output!r}")
        for kind, declared in (("data", module.data), ("resource", module.resources)):
            for match in REF_PATTERNS[kind].finditer(code):
                type_name, name, attribute = match.groups()
                prefix = "data." if kind == "data" else ""
                if (type_name, name) not in declared:
                    errors.append(f"{where}: {prefix}{type_name}.{name} is not declared")
                    continue
                block = block_schema(schema, kind, type_name)
                if attribute and block is not None and not schema_has_attribute(block, attribute):
                    errors.append(f"{where}: {prefix}{type_name}.{name} has no attribute {attribute!r}")
    return errors


def check_variable_validations(module: Module) -> list[str]:
    """Before Terraform 1.9 a validation may refer only to its own variable."""
    errors: list[str] = []
    for name, body in module.variables.items():
        for validation in body.get("validation", []):
            for match in REF_PATTERNS["var"].finditer(code_only(str(validation.get("condition", "")))):
                if match.group(1) != name:
                    errors.append(f"{module.path.name}: validation of var.{name} refers to var.{match.group(1)}")
    return errors


def check_module_calls(module: Module, load_child=None) -> list[str]:
    errors: list[str] = []
    load_child = load_child or (lambda source: Module.load((module.path / source).resolve()))
    for name, call in module.module_calls.items():
        source = unquote(call.get("source", ""))
        if not source.startswith("./"):
            errors.append(f"{module.path.name}: module.{name} must use a local ./ source, got {source!r}")
            continue
        child = load_child(source)
        passed = {key for key, _ in body_items(call)} - MODULE_META_ARGUMENTS
        for key in sorted(passed - set(child.variables)):
            errors.append(f"{module.path.name}: module.{name} passes {key!r}, which {source} does not declare")
        required = {var for var, body in child.variables.items() if "default" not in body}
        for key in sorted(required - passed):
            errors.append(f"{module.path.name}: module.{name} does not pass required variable {key!r}")
    return errors


def check_all(module: Module, schema: dict, load_child=None) -> list[str]:
    return (
        check_schema(module, schema)
        + check_references(module, schema, load_child)
        + check_module_calls(module, load_child)
        + check_variable_validations(module)
    )


def fmt_problems(text: str) -> list[str]:
    """What `terraform fmt` would change that we can see without it: tabs, trailing spaces,
    2-space indentation by nesting, and `=` alignment of consecutive one-line arguments
    (hclwrite's rule: a line whose expression opens a bracket it does not close is not aligned,
    and any other line ends the group)."""
    problems: list[str] = []
    lines = text.split("\n")
    code_lines = code_only(text).split("\n")
    indents: list[int] = []  # hclwrite: one level per line that opens brackets, however many
    group: list[tuple[int, int, int]] = []  # (line number, key width, "=" column)

    def close_group() -> None:
        if len(group) > 1:
            width = max(key for _, key, _ in group)
            for number, _key, column in group:
                if column != width + 1:
                    problems.append(f"line {number}: '=' not aligned with its neighbours")
        group.clear()

    for number, (line, code) in enumerate(zip(lines, code_lines, strict=True), start=1):
        if "\t" in line:
            problems.append(f"line {number}: tab")
        if line != line.rstrip():
            problems.append(f"line {number}: trailing whitespace")
        net = sum(code.count(c) for c in "[({") - sum(code.count(c) for c in "])}")
        if net > 0:
            expected = 2 * len(indents)
            indents.append(net)
        else:
            closed = -net
            while closed > 0 and indents:
                if closed >= indents[-1]:
                    closed -= indents.pop()
                else:
                    indents[-1] -= closed
                    closed = 0
            expected = 2 * len(indents)
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and indent != expected:
            problems.append(f"line {number}: indented {indent} spaces, expected {expected}")
        match = re.match(r'^(\s*)("[^"]*"|[\w-]+)(\s*)=(?![=>])', line)
        if match and net == 0:
            key_width = len(match.group(1)) + len(match.group(2))
            group.append((number, key_width, key_width + len(match.group(3))))
        else:
            close_group()
    close_group()
    return problems


def documented_environment(docs_text: str, functions: set[str]) -> dict[str, set[str]]:
    """docs/configuration.md's table: function => the env var names it reads ("all" = every function)."""
    wanted: dict[str, set[str]] = {name: set() for name in functions}
    for variable, names in re.findall(r"^\|\s*`([A-Z0-9_]+)`\s*\|\s*([^|]+)\|", docs_text, re.M):
        readers = functions if names.strip() == "all" else {name.strip() for name in names.split(",")}
        for name in readers:
            wanted.setdefault(name, set()).add(variable)
    return wanted
