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
AUTHORIZER_FUNCTIONS = {"authorizer"}  # API Gateway's Lambda authorizer (auth.type API_KEY), behind no route
QUEUE_FUNCTIONS = {"worker", "deliver"}  # SQS event source mappings (queues.tf), behind no route


def all_functions() -> set[str]:
    return route_functions() | SCHEDULED_FUNCTIONS | AUTHORIZER_FUNCTIONS | QUEUE_FUNCTIONS


def root_text() -> str:
    """Every .tf file of the root module (split by concern: main, functions, iam, models, checks, schedule)."""
    return "\n".join(
        p.read_text() for p in sorted(TERRAFORM.glob("*.tf")) if p.name not in ("variables.tf", "outputs.tf")
    )


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
    assert folders >= SCHEDULED_FUNCTIONS | AUTHORIZER_FUNCTIONS | QUEUE_FUNCTIONS
    main = root_text()
    assert 'module.functions["sweeper"].arn' in main
    assert 'module.functions["authorizer"].invoke_arn' in main


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
    settings_type = root.variables["functions"]["type"]
    assert set(re.findall(r"(\w+) = optional\(object", settings_type)) == all_functions()


def third_party_imports(function: str) -> set[str]:
    """Top-level packages a function's code can import (handler + every imagegen module it reaches,
    function-level imports included), less the standard library and imagegen."""
    import ast
    import sys

    package = ROOT / "src"
    seen, found, queue = set(), set(), [FUNCTIONS / function / "handler.py"]
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        text = path.read_text()
        if path == package / "imagegen" / "providers" / "__init__.py":  # the registry imports them by name
            queue += [
                package.joinpath(*name.split(".")).with_suffix(".py")
                for name in re.findall(r'"(imagegen\.providers\.\w+)"', text)
            ]
        for node in ast.walk(ast.parse(text)):
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
    return found - set(sys.stdlib_module_names) - {"__future__"}


# The top-level packages each third-party layer provides.
LAYER_PACKAGES = {
    "awssdk": {"boto3", "botocore"},
    "vendor": {"replicate", "httpx", "multipart", "pydantic", "PIL"},
    "analysis": {"onnxruntime", "numpy"},
}


def test_each_function_gets_exactly_the_layers_it_imports():
    """A layer only on the functions that import it: awssdk everywhere (the pinned SDK, never the
    runtime's), vendor where replicate/httpx/multipart/Pillow are used, analysis (the large one) where
    onnxruntime/numpy are."""
    functions = root_local("functions")
    provided = set().union(*LAYER_PACKAGES.values())
    for name, settings in functions.items():
        needed = third_party_imports(name)
        assert needed <= provided, f"{name} imports {needed - provided}, which no layer provides"
        wanted = ["imagegen"] + [layer for layer, packages in LAYER_PACKAGES.items() if needed & packages]
        used = [tfcheck.unquote(layer) for layer in settings["layers"]]
        assert used == wanted, name
    for name in functions:  # every function makes AWS calls (S3 at least) but the catalog's list and the page
        assert ("botocore" in third_party_imports(name)) == (name not in ("models", "web")), name
        assert "boto3" not in third_party_imports(name), name  # clients come from botocore's session
    assert third_party_imports("get_job") == {"botocore"}
    assert {"replicate", "multipart"} <= third_party_imports("edit")
    # analyze: the multipart parser and Pillow (vendor), ONNX Runtime and numpy (analysis)
    assert {"multipart", "onnxruntime", "numpy", "PIL"} <= third_party_imports("analyze")
    layers = root_local("layers")
    assert set(layers) == {"imagegen", "awssdk", "vendor", "analysis"}
    analyze = [tfcheck.unquote(layer) for layer in functions["analyze"]["layers"]]
    assert analyze == ["imagegen", "awssdk", "vendor", "analysis"]
    assert sum("analysis" in str(settings["layers"]) for settings in functions.values()) == 1


def requirement_pins(layer: str) -> dict[str, str]:
    text = (ROOT / "layers" / layer / "requirements.txt").read_text()
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def test_no_package_ships_twice_to_one_function():
    """Two layers of one function both unpack into /opt/python: a package in both would be shipped
    twice, and which copy is imported would depend on the layer order."""
    functions = root_local("functions")
    for name, settings in functions.items():
        seen: dict[str, str] = {}
        for layer in (tfcheck.unquote(layer) for layer in settings["layers"]):
            if layer == "imagegen":
                continue
            for package in requirement_pins(layer):
                assert package not in seen, f"{name}: {package} is in both {seen.get(package)} and {layer}"
                seen[package] = layer


def test_the_dev_venv_runs_the_sdk_that_ships():
    # requirements-dev.txt installs layers/awssdk/requirements.txt itself: the tests use the pinned SDK.
    dev = (ROOT / "requirements-dev.txt").read_text()
    assert "-r layers/awssdk/requirements.txt" in dev and "boto3==" not in dev
    assert tuple(int(x) for x in requirement_pins("awssdk")["botocore"].split(".")[:3]) >= (1, 35, 72)


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
    text = root_text()
    named = root_local("statements")  # statements several functions share, referenced by name
    for name, settings in functions.items():
        flat = json.dumps(settings["statements"])
        for shared, body in named.items():
            flat = flat.replace(f"local.statements.{shared}", json.dumps(json.dumps(body)))
        actions = set(re.findall(r'\\"([a-z0-9]+:[A-Za-z]+)\\"', flat))
        assert not any("*" in action for action in actions), name
        # calling models: one local for the three functions that do, each keyed by its own name
        calls_models = f"local.invoke_statements.{name}" in flat
        assert calls_models == (name in ("generate", "edit", "worker")), name
        assert "bedrock:InvokeModel" not in actions and "sagemaker:InvokeEndpoint" not in actions, name
        if name in ("get_job", "authorizer", "analyze"):
            assert actions == {"s3:GetObject"}, name
        # analyze reads exactly the configured model and label keys, nothing by prefix
        reads_models = "local.analysis_model_keys" in flat
        assert reads_models == (name == "analyze"), name
        if name == "analyze":
            assert "local.objects" not in flat, flat
        # only the authorizer reads the API key records, and it reads nothing else
        reads_keys = 'local.objects[\\"auth/api-keys\\"]' in flat
        assert reads_keys == (name == "authorizer"), name
        if name == "authorizer":
            assert flat.count("local.objects") == 1, flat
        if name == "usage":  # the ledger's keys hold everything (a listing); the key's budget state is read
            assert actions == {"s3:GetObject"} and settings.get("lists", []) == ['"usage/*"'], name
            assert "local.objects.limits" in flat and flat.count("local.objects") == 1, flat
        if name == "web":  # no AWS call at all
            assert actions == set() and settings.get("lists", []) == [], name
        reads_secret = "local.webhook_secret_parameter_arn" in flat
        assert reads_secret == (name == "replicate_webhook"), name
    # each with the ARNs of its own models (the worker: every model the routes enable); SageMaker never for edits
    invoke = root_local("invoke_statements")
    assert "local.bedrock_model_arns[function]" in invoke and "local.marketplace_statements[function]" in invoke
    assert 'function == \\"edit\\"' in invoke or 'function == "edit"' in invoke, invoke
    # The only wildcards in our policies are key prefixes inside the bucket ARN.
    objects = root_local("objects")
    prefixes = (
        '["images", "uploads", "jobs", "open", "usage", "auth/api-keys", "limits", "ratelimit", "webhooks/secrets"]'
    )
    assert objects == "${{for prefix in " + prefixes + ' : prefix => "${module.bucket.arn}/${prefix}/*"}}'
    # ...and AWS Marketplace's subscription actions, which have no resource-level permissions.
    uncommented = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    stars = re.findall(r'"[^"\n]*\*[^"\n]*"', uncommented)
    # (and the s3:prefix usage lists: usage/{the caller's key id}/, a condition value, not a resource)
    assert sorted(stars) == ['"${module.bucket.arn}/${prefix}/*"', '"*"', '"*"', '"usage/*"'], "no other '*' here"
    assert re.findall(r'actions\s+= \[([^\]]*)\]\s+resources\s+= \["\*"\]', uncommented) == [
        '"aws-marketplace:Subscribe"',
        '"aws-marketplace:ViewSubscriptions"',
    ]
    # Bedrock models are invoked where their catalog row runs them, not in the stack's region.
    assert "arn:${local.partition}:bedrock:${row.region}::foundation-model/${row.id}" in text
    assert 'var.sagemaker.endpoint_name == "" ? [] :' in text


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


# --- authorization -------------------------------------------------------------------------------


def unquoted(value):
    """python-hcl2 keeps string literals in their quotes: strip them, all the way down."""
    if isinstance(value, dict):
        return {key: unquoted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unquoted(item) for item in value]
    return tfcheck.unquote(value)


def test_api_key_auth_is_a_lambda_request_authorizer_on_the_authorization_header():
    """API_KEY (the default): the authorizer function as a REQUEST authorizer, payload 2.0, simple
    responses, cached per Authorization value for auth.cache_seconds; routes are CUSTOM."""
    http_api = module(TERRAFORM / "modules" / "http_api")
    authorizer = unquoted(http_api.resources[("aws_apigatewayv2_authorizer", "api_key")])
    assert authorizer["count"] == '${var.authorization.type == "API_KEY" ? 1 : 0}'
    assert authorizer["authorizer_type"] == "REQUEST"
    assert authorizer["authorizer_payload_format_version"] == "2.0"
    assert authorizer["enable_simple_responses"] is True
    assert authorizer["identity_sources"] == ["$request.header.Authorization"]
    assert authorizer["authorizer_result_ttl_in_seconds"] == "${var.authorization.cache_seconds}"
    assert "var.authorizer_function.invoke_arn" in authorizer["authorizer_uri"]
    (precondition,) = authorizer["lifecycle"][0]["precondition"]
    assert precondition["condition"] == "${var.authorizer_function != null}"
    # API Gateway may invoke the function for this authorizer only
    permission = unquoted(http_api.resources[("aws_lambda_permission", "authorizer")])
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["source_arn"].endswith("/authorizers/${aws_apigatewayv2_authorizer.api_key[0].id}")
    route = http_api.resources[("aws_apigatewayv2_route", "this")]
    assert route["authorization_type"] == '${each.value.authorized ? local.authorization_type : "NONE"}'
    custom = '${var.authorization.type == "API_KEY" ? "CUSTOM" : var.authorization.type}'
    assert http_api.locals["authorization_type"] == custom
    # the root passes the authorizer function with API_KEY only, and API_KEY is the default
    call = module(TERRAFORM).module_calls["http_api"]
    assert call["authorization"] == "${var.auth}"
    passed = '${var.auth.type == "API_KEY" ? {function_name = module.functions["authorizer"]'
    assert call["authorizer_function"].startswith(passed)
    auth_type = module(TERRAFORM).variables["auth"]["type"]
    assert re.search(r'type\s*= optional\(string, "API_KEY"\)', auth_type), auth_type
    assert re.search(r"cache_seconds\s*= optional\(number, 300\)", auth_type), auth_type


def test_the_docs_list_every_route_and_its_function():
    docs = (ROOT / "docs" / "configuration.md").read_text()
    listed = {}
    for keys, function in re.findall(r"^- (`[A-Z]+ /[^\n]*?`(?:, `[A-Z]+ /[^`]*`)*): (\w+)", docs, re.M):
        for key in re.findall(r"`([^`]+)`", keys):
            listed[key] = function
    assert listed == {key: route["function"] for key, route in routes().items()}


# --- image analysis ------------------------------------------------------------------------------


def test_analysis_models_are_under_a_prefix_the_bucket_never_expires():
    """The models live under models/: no lifecycle rule of the bucket may delete them, and the
    variable accepts no key elsewhere (nor a wildcard, since the keys go into the role's ARNs)."""
    call = module(TERRAFORM).module_calls["bucket"]
    expiring = [tfcheck.unquote(prefix) for prefix in call["expiration_days"]]
    assert expiring and all(prefix.endswith("/") for prefix in expiring)
    assert not any("models/".startswith(prefix) or prefix.startswith("models/") for prefix in expiring)
    bucket = (TERRAFORM / "modules" / "bucket" / "main.tf").read_text()
    # the one rule without a prefix only aborts uploads, expires old versions and delete markers
    catch_all = bucket.split("filter {}", 1)[1].split("dynamic", 1)[0]
    assert "days_after_initiation" in catch_all and "noncurrent_days" in catch_all
    assert re.search(r"expiration\s*\{\s*expired_object_delete_marker = true\s*\}", catch_all)
    validations = " ".join(str(v["condition"]) for v in module(TERRAFORM).variables["analysis_models"]["validation"])
    assert "^models(/" in validations and "\\\\.onnx$" in validations and "\\\\.txt$" in validations


def test_analysis_models_rows_are_the_fields_the_code_reads():
    """Each attribute of analysis_models is a field of vision.ModelSpec (labels_key and key excepted:
    analysis.model reads those files), so a row Terraform accepts is a row the code understands."""
    variable_type = module(TERRAFORM).variables["analysis_models"]["type"]
    fields = set(re.findall(r"(\w+)\s*=\s*(?:optional\()?(?:string|list|bool|number)", variable_type))
    vision = (ROOT / "src" / "imagegen" / "analysis" / "onnx.py").read_text()
    spec = vision.split("class ModelSpec", 1)[1].split("@classmethod", 1)[0]
    spec_fields = set(re.findall(r"^    (\w+):", spec, re.M)) - {"task"}
    assert fields == spec_fields | {"key", "labels_key"}, variable_type
    analysis = (ROOT / "src" / "imagegen" / "analysis" / "models.py").read_text()
    assert 'row["key"]' in analysis and 'row["labels_key"]' in analysis
    # ANALYSIS_MODELS is written without the unset (null) fields, like REPLICATE_EDIT_FORMS
    analyze = root_local("functions")["analyze"]
    assert analyze["environment"] == {"ANALYSIS_MODELS": "${jsonencode(local.analysis_models)}"}
    assert "if value != null" in root_local("analysis_models")
