"""Static checks of terraform/modules/monitoring and its wiring (the apply test deploys it).

GIVEN the monitoring module and the root module
WHEN they are read without a terraform binary
THEN alarms exist only with an SNS topic, every function is watched, the alarms watch the metric
names and dimensions the functions emit, and every function logs in Lambda's JSON format.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tfcheck

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MONITORING = tfcheck.Module.load(TERRAFORM / "modules" / "monitoring")


def without_docstrings(source: str) -> str:
    """The module's code as Python reads it, docstrings and comments gone."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            body[0] = ast.Pass()
    return ast.unparse(tree)


SOURCES_WITHOUT_DOCS = "\n".join(without_docstrings(p.read_text()) for p in (ROOT / "src" / "imagegen").rglob("*.py"))


def test_alarms_exist_only_when_a_topic_is_given():
    alarms = {
        name: body for (rtype, name), body in MONITORING.resources.items() if rtype == "aws_cloudwatch_metric_alarm"
    }
    assert set(alarms) == {"api_5xx_rate", "function", "custom", "queue"}
    for name, body in alarms.items():
        gate = body.get("count") or body.get("for_each")
        assert "local.alarms_enabled" in str(gate), name
        assert body["alarm_actions"] == "${local.actions}" and body["ok_actions"] == "${local.actions}", name
    assert ("aws_cloudwatch_dashboard", "this") in MONITORING.resources  # the dashboard always


def test_every_deployed_function_is_watched():
    call = tfcheck.Module.load(TERRAFORM).module_calls["monitoring"]
    assert call["function_names"] == "${{for key, function in module.functions : key => function.function_name}}"
    assert call["alarm_topic_arn"] == "${var.alarms.topic_arn}"


def test_alarms_and_the_dashboard_name_metrics_the_functions_emit():
    # A metric is emitted where code calls metric("Name", ...) (a docstring mentioning it does not count).
    # That each alarm's series (metric and dimensions) is emitted when its condition happens is run, not
    # read: tests/unit/test_logs.py::test_every_custom_alarm_watches_a_series_the_code_emits.
    main = (TERRAFORM / "modules" / "monitoring" / "main.tf").read_text()
    emitted = set(re.findall(r"""metric\(\s*['"](\w+)['"]""", SOURCES_WITHOUT_DOCS))
    named = set(re.findall(r'metric\s+=\s+"(\w+)"', main)) | set(
        re.findall(r'"(\w+)"', re.search(r"custom_metrics\s+=\s+\[([^\]]*)\]", main).group(1))
    )
    assert named <= emitted, f"watched but never emitted: {named - emitted}"


def test_functions_log_json_with_levels_from_variables():
    function = tfcheck.Module.load(TERRAFORM / "modules" / "function")
    (logging_config,) = function.resources[("aws_lambda_function", "this")]["logging_config"]
    assert logging_config["log_format"].strip('"') == "JSON"
    assert logging_config["application_log_level"] == "${var.application_log_level}"
    assert logging_config["system_log_level"] == "${var.system_log_level}"
    call = tfcheck.Module.load(TERRAFORM).module_calls["functions"]
    assert call["application_log_level"] == "${local.lambda_log_levels[var.logs.level]}"
    assert call["architecture"] == "${var.architecture}"
    assert tfcheck.Module.load(TERRAFORM).module_calls["layers"]["compatible_architectures"] == ["${var.architecture}"]
