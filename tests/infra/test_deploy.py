"""A real deployment: `terraform apply` of each example to a moto server, then what was deployed is checked.

GIVEN terraform/examples/minimal (every default: API_KEY auth, no analysis model) and
      terraform/examples/complete (API_KEY auth with a 60 s cache, tracing, reserved concurrency,
      versioning off, a SageMaker endpoint, custom CORS, arm64, a Replicate edit form, model
      aliases, a classification and a detection model)
WHEN  each is applied by the real terraform and aws provider to its own moto server
THEN  boto3 against that server finds the routes of functions/routes.json behind the API key
      (Lambda REQUEST) authorizer, the functions as configured with exactly the environment
      docs/configuration.md documents, least-privilege policies and a locked-down bucket; a
      second plan changes nothing; destroy leaves no state. Plans of terraform/ itself cover the
      other auth types (AWS_IAM, JWT) and the plan-time refusals.

The expectations come from the route table, the docs, variables.tf and the examples themselves,
so a function or route added later is checked without touching this file.
"""

from __future__ import annotations

import json
import re
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import hcl2
import iam_eval
import pytest
import tfcheck
from permission_scenarios import SCENARIOS, Fakes

from localdev.emulator import ACCOUNT_ID, REGION, Deployment

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
ROUTES = json.loads((ROOT / "functions" / "routes.json").read_text())
FUNCTIONS = {p.parent.name for p in (ROOT / "functions").glob("*/handler.py")}
DOCUMENTED_ENV = tfcheck.documented_environment((ROOT / "docs" / "configuration.md").read_text(), FUNCTIONS)
EXAMPLES = {"minimal": "x86_64", "complete": "arm64"}
CATALOG = json.loads((ROOT / "src" / "imagegen" / "catalog.json").read_text())
# What AWS offers where (ListFoundationModels + ListInferenceProfiles): where a profile routes requests.
OFFERED = json.loads((ROOT / "localdev" / "providers" / "bedrock-image-models.json").read_text())["models"]


def unquoted(value):
    """python-hcl2 keeps string literals (and block labels) in their quotes: strip them all."""
    if isinstance(value, dict):
        return {tfcheck.unquote(k): unquoted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unquoted(v) for v in value]
    return tfcheck.unquote(value)


def example_inputs(example: str) -> dict:
    """The literal arguments of the example's module call."""
    return unquoted(hcl2.loads((TERRAFORM / "examples" / example / "main.tf").read_text()))["module"][0]["imagegen"]


def variable_defaults() -> dict:
    """Defaults of the root variables this test needs, read from variables.tf."""
    text = (TERRAFORM / "variables.tf").read_text()
    settings = {
        name: {"timeout": int(timeout), "memory_size": int(memory)}
        for name, timeout, memory in re.findall(
            r"(\w+) = optional\(object\(\{\s*timeout\s*= optional\(number, (\d+)\)"
            r"\s*memory_size\s*= optional\(number, (\d+)\)",
            text,
        )
    }

    def block(variable: str) -> str:
        return text.split(f'variable "{variable}"', 1)[1].split("\nvariable ", 1)[0]

    auth, api = block("auth"), block("api")

    def throttle(name: str) -> dict:
        part = api.split(f"{name} = optional(object(", 1)[1].split("}), {})", 1)[0]
        return {k: int(v) for k, v in re.findall(r"(burst_limit|rate_limit)\s*= optional\(number, (\d+)\)", part)}

    return {
        "function_settings": settings,
        "throttling": throttle("throttling"),
        "webhook_throttling": throttle("webhook_throttling"),
        "auth_type": re.search(r'type\s*= optional\(string, "(\w+)"\)', auth).group(1),
        "auth_cache_seconds": int(re.search(r"cache_seconds\s*= optional\(number, (\d+)\)", auth).group(1)),
        "prefer_wait_max_seconds": int(
            re.search(r"prefer_wait_max_seconds\s*= optional\(number, (\d+)\)", api).group(1)
        ),
    }


class Expected:
    """What one example should deploy: the module's defaults overlaid with the example's inputs."""

    def __init__(self, example: str):
        inputs, defaults = example_inputs(example), variable_defaults()
        self.name = inputs.get("name", "imagegen")
        self.arch = inputs.get("architecture", "x86_64")
        self.tags = inputs.get("tags", {"project": "imagegen"})
        self.auth = inputs.get("auth", {}).get("type", defaults["auth_type"])
        self.auth_cache_seconds = inputs.get("auth", {}).get("cache_seconds", defaults["auth_cache_seconds"])
        # what API Gateway calls the routes' authorization: a Lambda authorizer is CUSTOM
        self.route_authorization = "CUSTOM" if self.auth == "API_KEY" else self.auth
        api, bucket = inputs.get("api", {}), inputs.get("bucket", {})
        self.tracing = inputs.get("logs", {}).get("tracing_mode", "PassThrough")
        self.versioning = bucket.get("versioning", True)
        self.cors = api.get("cors_allowed_origins", ["*"])
        self.throttling = {**defaults["throttling"], **api.get("throttling", {})}
        self.sagemaker = inputs.get("sagemaker", {}).get("endpoint_name", "")
        self.alarm_topic = inputs.get("alarms", {}).get("topic_arn")
        self.webhook_throttling = {**defaults["webhook_throttling"], **api.get("webhook_throttling", {})}
        # the models by catalog name: the example's, else the catalog's defaults
        self.models = {f: inputs.get("models", {}).get(f, CATALOG["defaults"][f]) for f in ("generate", "edit")}
        self.model_aliases = inputs.get("models", {}).get("aliases", {})
        self.prefer_wait_max_seconds = api.get("prefer_wait_max_seconds", defaults["prefer_wait_max_seconds"])
        # ANALYSIS_MODELS: the example's rows as written (Terraform leaves the unset fields out)
        self.analysis_models = inputs.get("analysis_models", {})
        expiry = bucket.get("expiry_days", {})
        self.expiry = {
            "images/": expiry.get("images", 30),
            "uploads/": expiry.get("uploads", 1),
            "jobs/": expiry.get("jobs", 30),
        }
        self.settings = {}
        for function, base in defaults["function_settings"].items():
            given = inputs.get("functions", {}).get(function, {})
            self.settings[function] = {**base, "reserved_concurrency": None, **given}


@pytest.fixture(scope="module")
def deployments(tmp_path_factory):
    """Both examples applied at once (each to its own moto server); stopped at the end of the module."""
    started = {
        example: Deployment(f"terraform/examples/{example}", tmp_path_factory.mktemp(example), arch)
        for example, arch in EXAMPLES.items()
    }

    def up(deployment: Deployment) -> dict:
        began = time.monotonic()
        deployment.prepare()
        deployment.outputs_at_apply = deployment.apply()
        deployment.timings["total_apply"] = time.monotonic() - began
        return deployment.outputs_at_apply

    try:
        with ThreadPoolExecutor(len(started)) as pool:
            list(pool.map(up, started.values()))
        yield started
    finally:
        for deployment in started.values():
            deployment.stop()
        for example, deployment in started.items():
            print(f"\n{example}: " + ", ".join(f"{k} {v:.1f} s" for k, v in deployment.timings.items()))


def client(deployment: Deployment, service: str):
    return boto3.client(
        service,
        endpoint_url=deployment.endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def outputs(deployment: Deployment) -> dict:
    return deployment.outputs_at_apply["imagegen"]


@pytest.fixture(params=list(EXAMPLES))
def deployed(request, deployments):
    return deployments[request.param], Expected(request.param)


def test_routes_are_the_route_table(deployed):
    deployment, expected = deployed
    apigw = client(deployment, "apigatewayv2")
    (api,) = [api for api in apigw.get_apis()["Items"] if api["Name"] == expected.name]
    assert api["ProtocolType"] == "HTTP"
    assert api.get("CorsConfiguration", {}).get("AllowOrigins") == expected.cors
    if expected.cors:  # a browser may send Prefer and read a 429's Retry-After and a job's Location
        assert "prefer" in api["CorsConfiguration"]["AllowHeaders"]
        assert {"retry-after", "location"} <= set(api["CorsConfiguration"]["ExposeHeaders"])
    routes = {route["RouteKey"]: route for route in apigw.get_routes(ApiId=api["ApiId"])["Items"]}
    assert set(routes) == set(ROUTES)
    integrations = {i["IntegrationId"]: i for i in apigw.get_integrations(ApiId=api["ApiId"])["Items"]}
    names = outputs(deployment)["function_names"]
    for key, spec in ROUTES.items():
        route = routes[key]
        integration = integrations[route["Target"].removeprefix("integrations/")]
        assert integration["IntegrationType"] == "AWS_PROXY", key
        assert integration["PayloadFormatVersion"] == "2.0", key
        assert integration["TimeoutInMillis"] == 30000, key
        assert f":function:{names[spec['function']]}/" in integration["IntegrationUri"], key
        assert route["AuthorizationType"] == (expected.route_authorization if spec["auth"] else "NONE"), key
        if spec["auth"] and expected.auth in ("JWT", "API_KEY"):
            assert route["AuthorizerId"] == outputs(deployment)["authorizer_id"], key
        else:  # the webhook route (Replicate signs its webhooks), the page and the contract have none
            assert not route.get("AuthorizerId"), key
    found = outputs(deployment)
    assert found["playground_url"] == found["api_url"].rstrip("/") + "/playground" and "GET /playground" in routes
    (stage,) = apigw.get_stages(ApiId=api["ApiId"])["Items"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == expected.throttling["burst_limit"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == expected.throttling["rate_limit"]
    # The webhook route has its own throttle: a flood of client requests cannot 429 Replicate's callbacks.
    webhook_keys = [key for key, spec in ROUTES.items() if spec["function"] == "replicate_webhook"]
    route_settings = stage.get("RouteSettings", {})
    assert set(route_settings) == set(webhook_keys)
    for key in webhook_keys:
        assert route_settings[key]["ThrottlingBurstLimit"] == expected.webhook_throttling["burst_limit"]
        assert route_settings[key]["ThrottlingRateLimit"] == expected.webhook_throttling["rate_limit"]
    access_log = stage["AccessLogSettings"]
    assert access_log["DestinationArn"].endswith(f":log-group:/aws/apigateway/{expected.name}")
    assert json.loads(access_log["Format"])["requestId"] == "$context.requestId"


def test_functions_are_configured_with_the_documented_environment(deployed):
    deployment, expected = deployed
    lam = client(deployment, "lambda")
    names = outputs(deployment)["function_names"]
    assert set(names) == FUNCTIONS  # every function folder is deployed, routed or not
    layer_arns = outputs(deployment)["layer_arns"]
    for function, name in names.items():
        config = lam.get_function(FunctionName=name)["Configuration"]
        assert config["Runtime"] == "python3.12", function
        assert config["Handler"] == "handler.handler", function
        assert config["Architectures"] == [expected.arch], function
        settings = expected.settings[function]
        assert (config["MemorySize"], config["Timeout"]) == (settings["memory_size"], settings["timeout"]), function
        assert config["TracingConfig"]["Mode"] == expected.tracing, function
        layers = {layer["Arn"] for layer in config.get("Layers", [])}
        assert layers and layers <= set(layer_arns.values()), function
        env = config["Environment"]["Variables"]
        assert set(env) == DOCUMENTED_ENV[function], function
        assert env["BUCKET_NAME"] == outputs(deployment)["bucket_name"]
        concurrency = lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions")
        assert concurrency == settings["reserved_concurrency"], function
    if expected.sagemaker:
        assert (
            lam.get_function(FunctionName=names["generate"])["Configuration"]["Environment"]["Variables"][
                "SAGEMAKER_ENDPOINT_NAME"
            ]
            == expected.sagemaker
        )


def test_api_keys_are_checked_by_the_authorizer_function(deployed):
    """API_KEY: a Lambda REQUEST authorizer (payload 2.0, simple responses) on the Authorization header,
    cached for auth.cache_seconds, that API Gateway may invoke; every authorized route uses it."""
    deployment, expected = deployed
    if expected.auth != "API_KEY":
        pytest.skip(f"auth is {expected.auth}")
    apigw, lam = client(deployment, "apigatewayv2"), client(deployment, "lambda")
    (api,) = [api for api in apigw.get_apis()["Items"] if api["Name"] == expected.name]
    # moto answers GetAuthorizers (the listing) with a 500, so the authorizer is read by the id the
    # module outputs; that every authorized route names this id is checked below.
    authorizer = apigw.get_authorizer(ApiId=api["ApiId"], AuthorizerId=outputs(deployment)["authorizer_id"])
    assert outputs(deployment)["auth_type"] == "API_KEY"
    assert outputs(deployment)["jwt_authorizer_id"] is None
    # moto keeps every attribute the provider sends and answers them back as they were set
    assert authorizer["Name"] == f"{expected.name}-api-key"
    assert authorizer["AuthorizerType"] == "REQUEST"
    assert authorizer["AuthorizerPayloadFormatVersion"] == "2.0"
    assert authorizer["EnableSimpleResponses"] is True
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["AuthorizerResultTtlInSeconds"] == expected.auth_cache_seconds
    function = lam.get_function(FunctionName=outputs(deployment)["function_names"]["authorizer"])["Configuration"]
    assert authorizer["AuthorizerUri"].endswith(f"/functions/{function['FunctionArn']}/invocations")
    assert not authorizer.get("AuthorizerCredentialsArn")  # invoked through the permission below
    routes = {route["RouteKey"]: route for route in apigw.get_routes(ApiId=api["ApiId"])["Items"]}
    for key, spec in ROUTES.items():
        if spec["auth"]:
            assert (routes[key]["AuthorizationType"], routes[key]["AuthorizerId"]) == (
                "CUSTOM",
                authorizer["AuthorizerId"],
            ), key
        else:
            assert routes[key]["AuthorizationType"] == "NONE" and not routes[key].get("AuthorizerId"), key
    assert any(spec["function"] == "replicate_webhook" and not spec["auth"] for spec in ROUTES.values())
    # API Gateway may invoke the authorizer function, for this authorizer only
    policy = json.loads(lam.get_policy(FunctionName=function["FunctionName"])["Policy"])
    (grant,) = policy["Statement"]
    assert grant["Effect"] == "Allow" and grant["Action"] == "lambda:InvokeFunction"
    assert grant["Principal"] == {"Service": "apigateway.amazonaws.com"}
    source_arn = f"{outputs(deployment)['api_execution_arn']}/authorizers/{authorizer['AuthorizerId']}"
    assert grant["Condition"]["ArnLike"]["AWS:SourceArn"] == source_arn
    # the authorizer function: our package only, the common environment, its own settings
    layer_arns = outputs(deployment)["layer_arns"]
    assert [layer["Arn"] for layer in function["Layers"]] == [layer_arns["imagegen"], layer_arns["awssdk"]]
    assert set(function["Environment"]["Variables"]) == {"BUCKET_NAME", "LOG_LEVEL", "METRICS_NAMESPACE"}
    settings = expected.settings["authorizer"]
    assert (function["Timeout"], function["MemorySize"]) == (settings["timeout"], settings["memory_size"])


def test_edits_and_generations_get_their_models_aliases_and_wait(deployed):
    """The functions' catalog models, aliases and Prefer: wait cap."""
    deployment, expected = deployed
    lam = client(deployment, "lambda")
    names = outputs(deployment)["function_names"]
    env = {
        function: lam.get_function(FunctionName=names[function])["Configuration"]["Environment"]["Variables"]
        for function in ("edit", "generate")
    }
    assert env["edit"]["EDIT_MODELS"].split(",") == expected.models["edit"]
    assert env["generate"]["GENERATE_MODELS"].split(",") == expected.models["generate"]
    for function in ("edit", "generate"):
        assert json.loads(env[function]["MODEL_ALIASES"]) == expected.model_aliases, function
        assert env[function]["PREFER_WAIT_MAX_SECONDS"] == str(expected.prefer_wait_max_seconds), function
        assert env[function]["BEDROCK_READ_TIMEOUT"] == "25", function
    # a Bedrock edit must be able to fail with an error answer before the function is cut off
    assert expected.settings["edit"]["timeout"] > int(env["edit"]["BEDROCK_READ_TIMEOUT"])


def test_the_analyze_function_gets_its_layers_models_and_routes(deployed):
    """analyze: imagegen + vendor (multipart) + analysis (ONNX Runtime) in that order, ANALYSIS_MODELS
    equal to the example's rows, the two analysis routes behind the API key authorizer."""
    deployment, expected = deployed
    lam, apigw = client(deployment, "lambda"), client(deployment, "apigatewayv2")
    names, layer_arns = outputs(deployment)["function_names"], outputs(deployment)["layer_arns"]
    assert set(layer_arns) == {"imagegen", "awssdk", "vendor", "analysis"}
    config = lam.get_function(FunctionName=names["analyze"])["Configuration"]
    in_order = [layer_arns[k] for k in ("imagegen", "awssdk", "vendor", "analysis")]
    assert [layer["Arn"] for layer in config["Layers"]] == in_order
    for function, name in names.items():  # the 134 MB layer on analyze only
        if function != "analyze":
            layers = [layer["Arn"] for layer in lam.get_function(FunctionName=name)["Configuration"].get("Layers", [])]
            assert layer_arns["analysis"] not in layers, function
    env = config["Environment"]["Variables"]
    assert json.loads(env["ANALYSIS_MODELS"]) == expected.analysis_models
    assert (config["Timeout"], config["MemorySize"]) == (30, 1024)  # the defaults, in both examples
    (api,) = [api for api in apigw.get_apis()["Items"] if api["Name"] == expected.name]
    routes = {route["RouteKey"]: route for route in apigw.get_routes(ApiId=api["ApiId"])["Items"]}
    analysis_routes = {key for key, spec in ROUTES.items() if spec["function"] == "analyze"}
    assert analysis_routes == {"POST /v1/images/classifications", "POST /v1/images/detections"}
    for key in analysis_routes:
        assert routes[key]["AuthorizationType"] == expected.route_authorization == "CUSTOM", key
        assert routes[key]["AuthorizerId"] == outputs(deployment)["authorizer_id"], key


UNZIPPED_LIMIT = 250 * 2**20  # Lambda: a function and all its layers, unzipped
DIRECT_UPLOAD_LIMIT = 50 * 2**20  # Lambda: a zip uploaded in the API call itself (as our layer module does)


def unzipped_size(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def test_each_function_with_its_layers_fits_lambdas_size_limits(deployed):
    """What `make build` made for this example's architecture: every zip under the 50 MB direct-upload
    limit, every function with its layers under 250 MB unzipped (analyze carries the analysis layer)."""
    deployment, _ = deployed
    dist = deployment.workdir / "dist"
    functions = tfcheck.Module.load(TERRAFORM).locals["functions"]
    layer_sizes = {path.stem: unzipped_size(path) for path in (dist / "layers").glob("*.zip")}
    for path in [*(dist / "layers").glob("*.zip"), *(dist / "functions").glob("*.zip")]:
        assert path.stat().st_size < DIRECT_UPLOAD_LIMIT, f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB zipped"
    totals = {}
    for name, settings in functions.items():
        layers = [tfcheck.unquote(layer) for layer in settings["layers"]]
        totals[name] = unzipped_size(dist / "functions" / f"{name}.zip") + sum(layer_sizes[layer] for layer in layers)
        assert totals[name] < UNZIPPED_LIMIT, f"{name} + {layers}: {totals[name] / 2**20:.1f} MiB unzipped"
    zipped = {name: (dist / "layers" / f"{name}.zip").stat().st_size / 2**20 for name in layer_sizes}
    print(
        f"\n{deployment.arch}: "
        + ", ".join(f"layer {name} {size:.1f} MiB zipped" for name, size in zipped.items())
        + f"; analyze + layers {totals['analyze'] / 2**20:.1f} MiB unzipped"
    )


ALLOWED_RESOURCE = re.compile(
    r"^arn:aws:(?:"
    r"s3:::[a-z0-9.-]+(?:/[a-z]+(?:/[a-z-]+)?/\*)?"  # the bucket, or one prefix of it
    r"|s3:::[a-z0-9.-]+/models(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)+\.(?:onnx|txt)"  # one analysis model or label file
    r"|kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+"  # the bucket's key
    r"|ssm:[a-z0-9-]+:\d{12}:parameter/[A-Za-z0-9/_.-]+"  # one named parameter
    r"|logs:[a-z0-9-]+:\d{12}:log-group:/aws/lambda/[a-z0-9-]+:\*"  # the function's own log streams
    r"|bedrock:[a-z0-9-]+:(?:\d{12})?:(?:foundation-model|inference-profile)/[A-Za-z0-9.:-]+"
    r"|sagemaker:[a-z0-9-]+:\d{12}:endpoint/[a-z0-9-]+"
    r"|sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+"  # one named queue
    r")$"
)


def policy_statements(iam, role: str) -> tuple[list[dict], list[str]]:
    inline = []
    for policy_name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=policy_name)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        inline += document["Statement"]
    attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
    return inline, attached


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def bedrock_arns(names: list[str]) -> set[str]:
    """Each Bedrock model where its row runs it; a profile's ARN there plus the model in each region AWS
    says the profile routes to (AWS's inference-profile prerequisites)."""
    arns = set()
    for row in (CATALOG["models"][name] for name in names):
        if row["provider"] != "bedrock":
            continue
        if row.get("profile"):
            profile = row["profile"]
            arns.add(f"arn:aws:bedrock:{row['region']}:{ACCOUNT_ID}:inference-profile/{profile}.{row['id']}")
            routes = OFFERED[row["id"]]["inferenceProfile"][profile.upper()][row["region"]]
            arns |= {f"arn:aws:bedrock:{r}::foundation-model/{row['id']}" for r in routes}
        else:
            arns.add(f"arn:aws:bedrock:{row['region']}::foundation-model/{row['id']}")
    return arns


def marketplace_products(names: list[str]) -> list[str | None]:
    rows = (CATALOG["models"][name] for name in names)
    return [row.get("marketplace_product_id") for row in rows if row["provider"] == "bedrock"]


LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")  # each function's own log group
# An SQS event source mapping receives and deletes its queue's messages with the function's role.
EVENT_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def test_policies_are_least_privilege(deployed):
    deployment, expected = deployed
    iam = client(deployment, "iam")
    bucket = outputs(deployment)["bucket_name"]
    for function, role_arn in outputs(deployment)["function_role_arns"].items():
        role = role_arn.rsplit("/", 1)[1]
        statements, attached = policy_statements(iam, role)
        assert statements, function
        assert attached == (["AWSXRayDaemonWriteAccess"] if expected.tracing == "Active" else []), function
        for statement in statements:
            where = f"{function}/{statement.get('Sid')}"
            assert statement["Effect"] == "Allow", where
            for action in as_list(statement["Action"]):
                assert "*" not in action, where
            if all(action.startswith("aws-marketplace:") for action in as_list(statement["Action"])):
                # AWS Marketplace has no resource-level permissions: "*", checked below
                assert as_list(statement["Resource"]) == ["*"], where
                continue
            for resource in as_list(statement["Resource"]):
                assert resource != "*" and ALLOWED_RESOURCE.match(resource), f"{where}: {resource}"
                if resource.startswith("arn:aws:s3:::"):
                    assert resource.split(":::")[1].split("/")[0] == bucket, where
                if ":log-group:" in resource:
                    assert resource.endswith(f"/aws/lambda/{outputs(deployment)['function_names'][function]}:*")
            if any(action.startswith("kms:") for action in as_list(statement["Action"])):
                via = statement["Condition"]["StringEquals"]["kms:ViaService"]
                assert via == f"s3.{REGION}.amazonaws.com", where
        actions = {action: [] for statement in statements for action in as_list(statement["Action"])}
        for statement in statements:
            for action in as_list(statement["Action"]):
                actions[action] += as_list(statement["Resource"])
        if function == "analyze":
            check_analysis_model_reads(function, actions, model_keys(expected), bucket)
            if not expected.analysis_models:
                continue  # no S3 action at all: no listing, no bucket key
        if function in ("models", "web"):  # the catalog, the page, the contract ship in the layer: only logs
            assert set(actions) == set(LOG_ACTIONS), actions
            continue
        # s3:ListBucket only for the prefixes it reads, each listing naming one (no IfExists: a listing
        # without a prefix is refused); the implicit 404-not-403 check carries the key as s3:prefix
        (listing,) = [st for st in statements if "s3:ListBucket" in as_list(st["Action"])]
        reads = sorted(arn.split(":::", 1)[1].split("/", 1)[1] for arn in actions.get("s3:GetObject", []))
        listed = set(as_list(listing["Condition"]["StringLike"]["s3:prefix"]))
        # the sweeper lists open/ and limits/ (the budget states it clears), usage lists the caller's usage/{key id}/
        assert set(reads) <= listed and listed - set(reads) <= {"open/", "limits/", "usage/*"}, function
        # the bucket key: Decrypt to read; GenerateDataKey only for a function that writes; neither for a
        # function that only lists (usage: its ledger keys hold everything, no object is read)
        assert ("kms:GenerateDataKey" in actions) == ("s3:PutObject" in actions), function
        assert ("kms:Decrypt" in actions) == bool({"s3:GetObject", "s3:PutObject"} & set(actions)), function
        # the worker runs the queued jobs of every model the routes enable
        invoked = sorted({n for names in expected.models.values() for n in names}) if function == "worker" else None
        invoked = invoked if invoked is not None else expected.models.get(function, [])
        arns = bedrock_arns(invoked)
        if arns:
            assert set(actions["bedrock:InvokeModel"]) == arns, function
            check_marketplace(function, statements, marketplace_products(invoked))
        else:
            assert "bedrock:InvokeModel" not in actions, function
            assert not any(a.startswith("aws-marketplace:") for a in actions), function
        # the API key records: the authorizer reads them, and nothing else; nobody else touches them
        key_records = f"arn:aws:s3:::{bucket}/auth/api-keys/*"
        touches_keys = [a for a, resources in actions.items() if key_records in resources]
        if function == "authorizer":
            assert touches_keys == ["s3:GetObject"] and actions["s3:GetObject"] == [key_records]
            assert listed == {"auth/api-keys/*"}
            assert set(actions) == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt", *LOG_ACTIONS}
        else:
            assert touches_keys == [], function
        if function == "edit":  # Bedrock's results are written to images/ and read back for b64_json
            images = f"arn:aws:s3:::{bucket}/images/*"
            assert images in actions["s3:GetObject"] and images in actions["s3:PutObject"]
        if function == "analyze":
            assert listed == model_keys(expected), function  # exact keys, no prefix


def check_marketplace(function: str, statements: list[dict], products: list[str | None]) -> None:
    """First use of a Marketplace model: Subscribe, always limited to the enabled models' listed product
    ids, and ViewSubscriptions; never Unsubscribe, never an unconditioned Subscribe; nothing at all when
    no enabled model has a listed product id (an administrator's first call subscribes it)."""
    market = [st for st in statements if any(a.startswith("aws-marketplace:") for a in as_list(st["Action"]))]
    actions = sorted(a for st in market for a in as_list(st["Action"]))
    listed = {product for product in products if product}
    if not listed:
        assert actions == [], function
        return
    assert actions == ["aws-marketplace:Subscribe", "aws-marketplace:ViewSubscriptions"], function
    (subscribe,) = [st for st in market if "aws-marketplace:Subscribe" in as_list(st["Action"])]
    assert as_list(subscribe["Action"]) == ["aws-marketplace:Subscribe"], function
    limited = subscribe["Condition"]["ForAnyValue:StringEquals"]["aws-marketplace:ProductId"]
    assert sorted(as_list(limited)) == sorted(listed), function


def model_keys(expected: Expected) -> set[str]:
    """The bucket keys of the example's analysis models and their label files."""
    rows = expected.analysis_models.values()
    return {row["key"] for row in rows} | {row["labels_key"] for row in rows if row.get("labels_key")}


def check_analysis_model_reads(function: str, actions: dict[str, list[str]], keys: set[str], bucket: str) -> None:
    """analyze: s3:GetObject on exactly the model and label keys; no statement at all without models."""
    if not keys:
        assert set(actions) == set(LOG_ACTIONS), f"{function}: without models it needs no permission: {actions}"
        return
    assert sorted(actions["s3:GetObject"]) == sorted(f"arn:aws:s3:::{bucket}/{key}" for key in keys), function
    assert set(actions) == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt", *LOG_ACTIONS}, function


def test_bucket_is_private_encrypted_tls_only_and_expires(deployed):
    deployment, expected = deployed
    s3 = client(deployment, "s3")
    bucket = outputs(deployment)["bucket_name"]
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    default = rule["ApplyServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    assert default["KMSMasterKeyID"] == outputs(deployment)["bucket_kms_key_arn"]
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    (deny,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(as_list(deny["Resource"])) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    expiring = {r["Filter"]["Prefix"]: r["Expiration"]["Days"] for r in rules if "Days" in r.get("Expiration", {})}
    assert {p: d for p, d in expiring.items() if p in expected.expiry} == expected.expiry
    # the analysis models are operator uploads under models/: no rule deletes them
    for key in {"models/", *model_keys(expected)}:
        assert not any(key.startswith(prefix) for prefix in expiring), key
    assert all(r["Status"] == "Enabled" for r in rules)
    # every job update makes a version: old versions expire, then their delete markers
    (cleanup,) = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert cleanup["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    assert cleanup["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    assert versioning == ("Enabled" if expected.versioning else "Suspended")


def test_everything_taggable_is_tagged(deployed):
    deployment, expected = deployed
    wanted = expected.tags
    names = outputs(deployment)["function_names"]
    lam, iam, s3 = client(deployment, "lambda"), client(deployment, "iam"), client(deployment, "s3")
    for function, name in names.items():
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        assert wanted.items() <= lam.list_tags(Resource=arn)["Tags"].items(), function
        role_tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name)["Tags"]}
        assert wanted.items() <= role_tags.items(), function
    bucket_tags = {
        t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=outputs(deployment)["bucket_name"])["TagSet"]
    }
    assert wanted.items() <= bucket_tags.items()
    (api,) = [a for a in client(deployment, "apigatewayv2").get_apis()["Items"] if a["Name"] == expected.name]
    assert wanted.items() <= api.get("Tags", {}).items()


@pytest.fixture(scope="module")
def root_plan(deployments):
    """`terraform plan` of terraform/ itself (fresh state) with -var arguments, on the minimal example's emulator."""
    deployment = deployments["minimal"]
    deployment.run(str(deployment.workdir / "scripts" / "tf-init.sh"), "terraform", cwd=deployment.workdir)

    def plan(*var_args: str):
        return deployment.run(
            "terraform",
            "plan",
            "-input=false",
            "-no-color",
            *var_args,
            check=False,
            cwd=deployment.workdir / "terraform",
        )

    return plan


def test_a_bucket_name_with_dots_plans(root_plan):
    # A KMS alias may not contain dots: the alias is derived from the bucket name with them replaced.
    result = root_plan("-var", 'bucket={name="images.imagegen.example.com"}')
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r'name\s+= "alias/images-imagegen-example-com"', result.stdout), result.stdout


def test_a_model_not_in_the_catalog_or_sagemaker_without_an_endpoint_is_refused_at_plan(root_plan):
    result = root_plan("-var", 'models={generate=["sd3.5-large", "acme-sketchify"]}')
    assert result.returncode == 1
    assert "These models are not in the model catalog" in words(result.stderr)
    assert "acme-sketchify" in words(result.stderr)
    result = root_plan("-var", 'models={generate=["sagemaker"]}')
    assert result.returncode == 1
    assert "models.generate names sagemaker but sagemaker.endpoint_name is empty" in words(result.stderr)
    fine = root_plan("-var", 'models={generate=["stable-image-core"], edit=["flux-fill-pro"]}')
    assert fine.returncode == 0, fine.stderr


def test_cors_off_plans_no_cors_configuration_and_on_plans_the_origins(root_plan):
    # Off: API Gateway adds no CORS header and answers no preflight; the handlers send none of their own.
    off = root_plan("-var", "api={cors_allowed_origins=[]}")
    assert off.returncode == 0, off.stderr
    assert "cors_configuration" not in off.stdout
    on = root_plan("-var", 'api={cors_allowed_origins=["https://app.example.com"]}')
    assert on.returncode == 0, on.stderr
    assert "cors_configuration" in on.stdout and '"https://app.example.com"' in on.stdout


def planned_routes(plan_output: str) -> dict[str, str]:
    """Route key => authorization_type of each route in a plan's output."""
    found = {}
    for block in plan_output.split("# module.http_api.aws_apigatewayv2_route.this[")[1:]:
        key = block.split('"]', 1)[0].lstrip('"')
        found[key] = re.search(r'authorization_type\s+= "(\w+)"', block).group(1)
    return found


def test_the_other_auth_types_plan_without_the_api_key_authorizer(root_plan):
    # AWS_IAM: SigV4 routes, no authorizer; JWT: the JWT authorizer. Neither grants API Gateway the authorizer function.
    issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
    jwt = f'auth={{type="JWT", issuer="{issuer}", audience=["imagegen"]}}'
    for auth, var in (("AWS_IAM", 'auth={type="AWS_IAM"}'), ("JWT", jwt)):
        result = root_plan("-var", var)
        assert result.returncode == 0, result.stdout + result.stderr
        routes = planned_routes(result.stdout)
        assert routes == {key: auth if spec["auth"] else "NONE" for key, spec in ROUTES.items()}, auth
        assert "aws_apigatewayv2_authorizer.api_key" not in result.stdout, auth
        assert "aws_lambda_permission.authorizer" not in result.stdout, auth
        assert ("aws_apigatewayv2_authorizer.this" in result.stdout) == (auth == "JWT"), auth
        assert 'module.functions["authorizer"].aws_lambda_function.this' in result.stdout  # deployed anyway


def test_an_edit_timeout_below_the_bedrock_read_timeout_warns_and_a_long_key_cache_is_refused(root_plan):
    # A check block warns (the plan goes on): an edit cut off mid-call would answer no error at all.
    result = root_plan("-var", "functions={edit={timeout=20}}")
    assert result.returncode == 0, result.stdout + result.stderr
    output = (result.stdout + result.stderr).replace("\n", " ")
    assert "The edit timeout must exceed bedrock.read_timeout_seconds" in output
    # A revoked key would work for more than an hour: refused.
    refused = root_plan("-var", "auth={cache_seconds=7200}")
    assert refused.returncode == 1
    message = "auth.cache_seconds must be a whole number of seconds between 0 and 3600"
    assert message in refused.stderr.replace("\n", " ")


def test_a_malformed_analysis_model_row_is_refused_at_plan(root_plan):
    # A model outside models/ (which the role could not be scoped to, and a lifecycle rule may expire),
    # and a detection row without its output format, are refused with the variable's own message.
    outside = 'analysis_models={classification={key="images/x.onnx", labels=["a", "b"], input_size=[64, 64]}}'
    result = root_plan("-var", outside)
    assert result.returncode == 1
    assert "Each analysis_models key must be a bucket key models/....onnx" in words(result.stderr)
    no_output = 'analysis_models={detection={key="models/x.onnx", labels_key="models/x.txt", input_size=[640, 640]}}'
    result = root_plan("-var", no_output)
    assert result.returncode == 1
    assert 'analysis_models.detection needs output = "yolo" or "boxes_scores"' in words(result.stderr)


def words(text: str) -> str:
    """Terraform's diagnostics as one line: wrapped lines joined, the box-drawing margin dropped."""
    return " ".join(text.replace("│", " ").split())


def test_every_aws_call_a_function_makes_is_allowed_by_its_policy_and_every_grant_is_used(deployed, monkeypatch):
    """Each function's real code, run in-process with its deployed environment against the emulator's
    bucket (and the fake Bedrock, SageMaker and Replicate), every request kind it serves; every AWS
    call it makes is recorded as the code made it (iam_eval.record) and must be allowed by that
    function's own deployed policy, resources and conditions included. moto enforces no IAM; this does.
    Two-sided: every function is run (SCENARIOS has each one), and every grant of its policy (action,
    resource, condition value) must be needed by one of its calls: an extra grant fails too."""
    deployment, expected = deployed
    lam, iam = client(deployment, "lambda"), client(deployment, "iam")
    names, roles = outputs(deployment)["function_names"], outputs(deployment)["function_role_arns"]
    bucket, kms_key = outputs(deployment)["bucket_name"], outputs(deployment)["bucket_kms_key_arn"]
    environments = {
        f: lam.get_function(FunctionName=n)["Configuration"]["Environment"]["Variables"] for f, n in names.items()
    }
    # moto enforces the bucket policy's TLS-only deny, and it speaks plain http: the bucket policy
    # (a resource policy, not what this test is about) is set aside while the code runs, then restored.
    s3 = client(deployment, "s3")
    bucket_policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.delete_bucket_policy(Bucket=bucket)
    calls: dict[str, list[iam_eval.Call]] = {}
    fakes = None
    try:
        fakes = Fakes.start(deployment, environments)
        for function, requests_of in SCENARIOS.items():
            calls[function] = []
            fakes.enter(monkeypatch, environments[function])
            unhook = iam_eval.record(calls[function])
            try:
                requests_of(fakes, expected)
            finally:
                unhook()
    finally:
        if fakes:
            fakes.stop()
        empty_bucket(s3, bucket)  # destroy must still find what Terraform made, and only that
        s3.put_bucket_policy(Bucket=bucket, Policy=bucket_policy)
    profiles = {model: listed.get("inferenceProfile", {}) for model, listed in OFFERED.items()}
    products = {row["id"]: row.get("marketplace_product_id") for row in CATALOG["models"].values()}
    assert set(calls) == set(roles), "every deployed function has its scenarios"
    refused, idle = [], []
    for function, made in calls.items():
        no_calls = function in ("models", "web") or (function == "analyze" and not expected.analysis_models)
        assert bool(made) != no_calls, f"{function}: {len(made)} AWS calls"
        statements, _ = policy_statements(iam, roles[function].rsplit("/", 1)[1])
        needed = []
        for call in made:
            for need in iam_eval.needs(call, ACCOUNT_ID, kms_key, REGION, profiles, products):
                needed.append(need)
                if not iam_eval.allowed(need, statements):
                    refused.append(f"{function}: {call.service}.{call.operation} needs {need}")
        # the Lambda runtime writes the logs, not our code
        ignore = LOG_ACTIONS + (EVENT_SOURCE_ACTIONS if function in ("worker", "deliver") else ())
        idle += [f"{function}: {grant}" for grant in iam_eval.unused(statements, needed, ignore=ignore)]
    assert refused == [], "\n".join(refused)
    assert idle == [], "granted but never needed:\n" + "\n".join(idle)
    operations = {(c.service, c.operation) for made in calls.values() for c in made}
    assert {("s3", "PutObject"), ("s3", "GetObject"), ("s3", "ListObjectsV2"), ("s3", "DeleteObject"),
            ("ssm", "GetParameter"), ("bedrock-runtime", "InvokeModel")} <= operations  # fmt: skip
    assert bucket in {c.params.get("Bucket") for made in calls.values() for c in made}


def empty_bucket(s3, bucket: str) -> None:
    """Every object version and delete marker gone (the bucket is versioned unless an example says not)."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found = page.get("Versions", []) + page.get("DeleteMarkers", [])
        if found:
            objects = [{"Key": item["Key"], "VersionId": item["VersionId"]} for item in found]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})


def test_logs_metrics_alarms_and_the_dashboard_are_deployed(deployed):
    deployment, expected = deployed
    cloudwatch, lam = client(deployment, "cloudwatch"), client(deployment, "lambda")
    dashboard = outputs(deployment)["dashboard_name"]
    assert dashboard in [d["DashboardName"] for d in cloudwatch.list_dashboards()["DashboardEntries"]]
    assert json.loads(cloudwatch.get_dashboard(DashboardName=dashboard)["DashboardBody"])["widgets"]
    alarms = {alarm["AlarmName"]: alarm for alarm in cloudwatch.describe_alarms()["MetricAlarms"]}
    assert set(alarms) == set(outputs(deployment)["alarm_names"])
    if expected.alarm_topic:  # every function's errors and throttles, the API's 5xx, our own metrics
        names = outputs(deployment)["function_names"].values()
        watched = {d["Value"] for a in alarms.values() for d in a.get("Dimensions", []) if d["Name"] == "FunctionName"}
        assert set(names) <= watched
        assert all(alarm["AlarmActions"] == [expected.alarm_topic] for alarm in alarms.values())
        # every queue: a work or delivery queue's oldest message, and any message in a dead-letter queue
        queues = {url.rsplit("/", 1)[1] for url in client(deployment, "sqs").list_queues()["QueueUrls"]}
        queued = {d["Value"] for a in alarms.values() for d in a.get("Dimensions", []) if d["Name"] == "QueueName"}
        assert queued == queues and any(name.endswith("dead-letter") for name in queued)
    else:
        assert alarms == {}
    for function, name in outputs(deployment)["function_names"].items():
        logging_config = lam.get_function(FunctionName=name)["Configuration"]["LoggingConfig"]
        assert logging_config["LogFormat"] == "JSON", function


def test_second_plan_has_no_drift_and_destroy_leaves_nothing(deployments):
    """Last: plan must be empty, then destroy must leave an empty state (both examples at once)."""

    def converge_then_destroy(deployment: Deployment) -> tuple[int, str, list[str]]:
        code, plan = deployment.plan_exit_code()
        return code, plan, deployment.destroy()

    with ThreadPoolExecutor(len(deployments)) as pool:
        results = dict(zip(deployments, pool.map(converge_then_destroy, deployments.values()), strict=True))
    for example, (code, plan, left) in results.items():
        assert code == 0, f"{example}: terraform plan found drift after apply:\n{plan[-4000:]}"
        assert left == [], f"{example}: destroy left {left}"


def test_the_account_is_the_emulators(deployments):
    # The execute-api and permission ARNs need the real account id (skip_requesting_account_id = false).
    for deployment in deployments.values():
        assert f":{ACCOUNT_ID}:" in outputs(deployment)["api_execution_arn"]
