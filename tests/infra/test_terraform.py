"""Static checks of terraform/: parse, route table consistency, provider schema, references, style.

GIVEN the Terraform in terraform/ and the route table in functions/routes.json
WHEN they are read without a terraform binary
THEN they agree with each other, with the provider schema and with docs/configuration.md.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import hcl2
import pytest
import tfcheck

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
FUNCTIONS = ROOT / "functions"
ROUTES_FILE = FUNCTIONS / "routes.json"
MODULE_DIRS = [TERRAFORM, *sorted(p for p in (TERRAFORM / "modules").iterdir() if p.is_dir())]
TF_FILES = sorted(TERRAFORM.rglob("*.tf"))
SCHEMA = tfcheck.load_schema()


def module(path: Path) -> tfcheck.Module:
    return tfcheck.Module.load(path)


def routes() -> dict:
    return json.loads(ROUTES_FILE.read_text())


def route_functions() -> set[str]:
    return {route["function"] for route in routes().values()}


SCHEDULED_FUNCTIONS = {"sweeper"}  # run by an EventBridge schedule, behind no route


def all_functions() -> set[str]:
    return route_functions() | SCHEDULED_FUNCTIONS


def root_local(name: str):
    return module(TERRAFORM).locals[name]


def ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


# --- parsing -----------------------------------------------------------------------------------


def test_the_expected_modules_exist():
    assert {p.name for p in MODULE_DIRS[1:]} == {
        "http_api",
        "function",
        "layer",
        "bucket",
        "monitoring",
        "bedrock_model_check",
    }
    for directory in MODULE_DIRS:
        for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
            assert (directory / name).is_file(), f"{directory.relative_to(ROOT)}/{name} is missing"


@pytest.mark.parametrize("path", TF_FILES, ids=ids(TF_FILES))
def test_every_tf_file_parses(path):
    with path.open() as handle:
        assert isinstance(hcl2.load(handle), dict)


# --- route table <=> function folders <=> Terraform ----------------------------------------------


def test_every_route_function_has_a_handler():
    missing = sorted(f for f in route_functions() if not (FUNCTIONS / f / "handler.py").is_file())
    assert not missing, f"routes.json names functions without functions/<name>/handler.py: {missing}"


def test_every_function_folder_has_a_route_or_a_schedule():
    folders = {p.name for p in FUNCTIONS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    unused = sorted(folders - all_functions())
    assert not unused, f"function folders no route in routes.json uses: {unused}"
    assert folders >= SCHEDULED_FUNCTIONS
    assert 'module.functions["sweeper"].arn' in (TERRAFORM / "main.tf").read_text()


def test_route_keys_are_method_and_path():
    for key, route in routes().items():
        assert re.fullmatch(r"(GET|POST|PUT|PATCH|DELETE) /\S*", key), key
        assert set(route) == {"function", "auth"}, key
        assert isinstance(route["auth"], bool), key


def test_terraform_builds_routes_from_the_route_table():
    assert root_local("routes") == '${jsondecode(file("${path.module}/../functions/routes.json"))}'
    assert (TERRAFORM / "../functions/routes.json").resolve() == ROUTES_FILE
    http_api = module(TERRAFORM).module_calls["http_api"]
    assert "local.routes" in http_api["routes"]
    assert "module.functions" in http_api["functions"]


def test_per_function_settings_cover_exactly_the_functions():
    root = module(TERRAFORM)
    functions = root.locals["functions"]
    assert set(functions) == all_functions()
    assert "local.functions" in root.module_calls["functions"]["for_each"]
    settings_type = root.variables["function_settings"]["type"]
    assert set(re.findall(r"(\w+) = optional\(object", settings_type)) == all_functions()


def third_party_imports(function: str) -> set[str]:
    """Top-level packages a function's code can import (handler + every imagegen module it reaches,
    function-level imports included), less the standard library, imagegen and the runtime's boto3."""
    import ast
    import sys

    package = ROOT / "layers" / "imagegen"
    seen, found, queue = set(), set(), [FUNCTIONS / function / "handler.py"]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name.split(".")[0] != "imagegen":
                    found.add(name.split(".")[0])
                    continue
                module_path = package.joinpath(*name.split("."))
                for candidate in (module_path.with_suffix(".py"), module_path / "__init__.py"):
                    if candidate.exists():
                        queue.append(candidate)
    return found - set(sys.stdlib_module_names) - {"__future__", "boto3", "botocore"}


def test_each_function_gets_exactly_the_layers_it_imports():
    """A layer only on the functions that import it: vendor where replicate/httpx/multipart are used."""
    functions = root_local("functions")
    vendor = {"replicate", "httpx", "multipart", "pydantic"}
    for name, settings in functions.items():
        needed = third_party_imports(name)
        assert needed <= vendor, f"{name} imports {needed - vendor}, which no layer provides"
        used = [tfcheck.unquote(layer) for layer in settings["layers"]]
        assert used == (["imagegen", "vendor"] if needed else ["imagegen"]), name
    assert third_party_imports("get_job") == set() and third_party_imports("replicate_webhook") == set()
    assert {"replicate", "multipart"} <= third_party_imports("edit")


def documented_environment() -> dict[str, set[str]]:
    """docs/configuration.md: function => the env var names it reads."""
    return tfcheck.documented_environment((ROOT / "docs" / "configuration.md").read_text(), all_functions())


def test_each_function_gets_exactly_the_documented_environment():
    common = set(root_local("common_environment"))
    functions = root_local("functions")
    documented = documented_environment()
    assert sum(map(len, documented.values())) > 0
    for name, settings in functions.items():
        assert common | set(settings["environment"]) == documented[name], name
    call = module(TERRAFORM).module_calls["functions"]
    assert call["environment"] == "${merge(local.common_environment, each.value.environment)}"


def test_policies_follow_least_privilege():
    functions = root_local("functions")
    text = (TERRAFORM / "main.tf").read_text()
    named = root_local("statements")  # statements several functions share, referenced by name
    for name, settings in functions.items():
        flat = json.dumps(settings["statements"])
        for shared, body in named.items():
            flat = flat.replace(f"local.statements.{shared}", json.dumps(json.dumps(body)))
        actions = set(re.findall(r'\\"([a-z0-9]+:[A-Za-z]+)\\"', flat))
        assert not any("*" in action for action in actions), name
        if name != "generate":
            assert not {"bedrock:InvokeModel", "sagemaker:InvokeEndpoint"} & actions, name
        if name == "get_job":
            assert actions == {"s3:GetObject"}, name
        reads_secret = "local.webhook_secret_parameter_arn" in flat
        assert reads_secret == (name == "replicate_webhook"), name
    # The only wildcards in our policies are key prefixes inside the bucket ARN.
    objects = root_local("objects")
    assert (
        objects
        == '${{for prefix in ["images", "uploads", "jobs", "open"] : prefix => "${module.bucket.arn}/${prefix}/*"}}'
    )
    uncommented = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    stars = re.findall(r'"[^"\n]*\*[^"\n]*"', uncommented)
    assert stars == ['"${module.bucket.arn}/${prefix}/*"'], "no other '*' in main.tf"
    assert "arn:${local.partition}:bedrock:${local.region}::foundation-model/${id}" in text
    assert 'var.sagemaker_endpoint_name == "" ? [] :' in text


# --- provider schema, references, module calls --------------------------------------------------


def test_schema_file_is_the_aws_provider_schema():
    assert SCHEMA["version"].startswith("6.")
    assert set(SCHEMA) >= {"resource_schemas", "data_source_schemas", "all_resource_types", "all_data_source_types"}


@pytest.mark.parametrize("path", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_resources_match_the_provider_schema(path):
    errors = tfcheck.check_schema(module(path), SCHEMA)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_references_point_at_declarations(path):
    errors = tfcheck.check_references(module(path), SCHEMA) + tfcheck.check_variable_validations(module(path))
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("path", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_module_calls_pass_declared_and_required_variables(path):
    errors = tfcheck.check_module_calls(module(path))
    assert not errors, "\n".join(errors)


def test_every_module_is_called():
    calls = {tfcheck.unquote(call["source"]) for call in module(TERRAFORM).module_calls.values()}
    assert calls == {f"./modules/{p.name}" for p in MODULE_DIRS[1:]}


# --- style ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_variables_are_described_typed_and_ordered(path):
    for name, body in module(path).variables.items():
        keys = [key for key, _ in tfcheck.body_items(body) if key != "validation"]
        assert keys[:2] == ["description", "type"], name
        assert keys in (["description", "type"], ["description", "type", "default"]), name


@pytest.mark.parametrize("path", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_outputs_are_described(path):
    for name, body in module(path).outputs.items():
        assert "description" in body, name


@pytest.mark.parametrize("path", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_versions_tf_holds_only_the_terraform_block(path):
    parsed = hcl2.loads((path / "versions.tf").read_text())
    assert set(parsed) == {"terraform"}
    block = parsed["terraform"][0]
    assert block["required_version"] == '">= 1.5"'
    # 5.100 (what our offline mirror has, and many ops teams) and every 6.x (the schema we check against)
    assert tfcheck.unquote(block["required_providers"][0]["aws"]["version"]) == ">= 5.100, < 7.0"


def test_only_the_root_module_configures_the_provider():
    assert module(TERRAFORM).providers == ["aws"]
    for path in MODULE_DIRS[1:]:
        assert module(path).providers == [], path.name


@pytest.mark.parametrize("path", TF_FILES, ids=ids(TF_FILES))
def test_no_forbidden_constructs(path):
    text = path.read_text()
    code = tfcheck.code_only(text)
    assert not re.search(r"(^|\s)//", re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)), "use # comments, not //"
    assert "<<" not in code, "no heredocs (IAM JSON comes from aws_iam_policy_document)"
    assert "archive_file" not in code
    assert not re.search(r"\bprofile\s*=", code)
    assert not re.search(r"\bendpoints\b", code), "no hard-coded endpoints (tflocal adds its own)"
    for match in re.finditer(r"#checkov:skip=(CKV2?_AWS_\d+):(.*)", text):
        assert len(match.group(2).strip()) > 30, f"{match.group(1)} needs a real reason"


@pytest.mark.parametrize("path", TF_FILES, ids=ids(TF_FILES))
def test_formatted_like_terraform_fmt(path):
    problems = tfcheck.fmt_problems(path.read_text())
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt_check():
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-list=true", str(TERRAFORM)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", MODULE_DIRS, ids=ids(MODULE_DIRS))
def test_readme_tables_are_the_variables_and_outputs(path):
    """Each README's Inputs/Outputs tables are exactly what scripts/tf_docs.py makes of the .tf files."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import tf_docs

    readme = (path / "README.md").read_text()
    assert tf_docs.render(readme, path) == readme, f"run python scripts/tf_docs.py: {path.name}/README.md is stale"
    for name in [*module(path).variables, *module(path).outputs]:
        assert f"| `{name}` |" in readme
