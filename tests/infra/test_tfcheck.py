"""The checker itself catches mistakes: small in-memory modules with one error each."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import tfcheck

SCHEMA = tfcheck.load_schema()

LAMBDA_OK = """
resource "aws_iam_role" "this" {
  name               = "fn"
  assume_role_policy = "{}"
}

resource "aws_lambda_function" "this" {
  function_name = "fn"
  role          = aws_iam_role.this.arn
  filename      = "fn.zip"

  environment {
    variables = { A = "b" }
  }
}
"""


def check(source: str, children: dict[str, str] | None = None) -> list[str]:
    """All checker findings for a root module made of `source` (and child modules by source path)."""

    def load_child(path: str) -> tfcheck.Module:
        return tfcheck.Module.from_sources(Path(path), {"main.tf": (children or {})[path]})

    root = tfcheck.Module.from_sources(Path("root"), {"main.tf": source})
    return tfcheck.check_all(root, SCHEMA, load_child)


def test_a_valid_snippet_has_no_findings():
    assert check(LAMBDA_OK) == []


def test_unknown_argument_on_s3_bucket_is_reported():
    errors = check('resource "aws_s3_bucket" "this" {\n  bucket = "b"\n  acl_mode = "private"\n}\n')
    assert errors == ["root: aws_s3_bucket.this: unknown argument or block 'acl_mode'"]


def test_missing_required_role_on_lambda_function_is_reported():
    errors = check(LAMBDA_OK.replace("  role          = aws_iam_role.this.arn\n", ""))
    assert errors == ["root: aws_lambda_function.this: missing required argument 'role'"]


def test_undeclared_variable_is_reported_but_not_one_in_a_string():
    source = """
variable "name" {
  type = string
}

resource "aws_s3_bucket" "this" {
  bucket = "${var.name}-${var.suffix}"
  tags   = { note = "var.other is text" }
}
"""
    assert check(source) == ["root/main.tf: var.suffix is not declared"]


def test_unknown_resource_type_and_unknown_attribute_reference_are_reported():
    source = (
        LAMBDA_OK
        + """
resource "aws_s3_buckett" "this" {}

output "x" {
  value = aws_lambda_function.this.arnn
}
"""
    )
    errors = check(source)
    assert "root: aws_s3_buckett.this: unknown resource type 'aws_s3_buckett'" in errors
    assert "root/main.tf: aws_lambda_function.this has no attribute 'arnn'" in errors


def test_computed_only_attribute_and_block_errors_in_nested_and_dynamic_blocks():
    source = """
resource "aws_lambda_function" "this" {
  function_name = "fn"
  role          = "arn"
  arn           = "set"

  environment {
    variables = {}
    extra     = 1
  }

  dynamic "tracing_config" {
    for_each = [1]

    content {
      mode  = "Active"
      colour = "red"
    }
  }
}
"""
    assert check(source) == [
        "root: aws_lambda_function.this: 'arn' is computed only and cannot be set",
        "root: aws_lambda_function.this.environment: unknown argument or block 'extra'",
        "root: aws_lambda_function.this.tracing_config: unknown argument or block 'colour'",
    ]


def test_missing_required_nested_block_is_reported():
    source = 'resource "aws_s3_bucket_versioning" "this" {\n  bucket = "b"\n}\n'
    assert check(source) == ["root: aws_s3_bucket_versioning.this: missing required block 'versioning_configuration'"]


def test_undeclared_local_data_and_resource_references_are_reported():
    source = 'output "x" {\n  value = [local.nope, data.aws_region.current.region, aws_s3_bucket.gone.id]\n}\n'
    assert check(source) == [
        "root/main.tf: local.nope is not declared",
        "root/main.tf: data.aws_region.current is not declared",
        "root/main.tf: aws_s3_bucket.gone is not declared",
    ]


def test_module_calls_with_unknown_or_missing_variables_and_outputs_are_reported():
    child = """
variable "needed" {
  type = string
}

variable "optional" {
  type    = string
  default = ""
}

output "out" {
  value = var.needed
}
"""
    source = """
module "child" {
  source = "./modules/child"
  typo   = "x"
}

output "x" {
  value = [module.child.out, module.child.missing, module.nope.out]
}
"""
    errors = check(source, {"./modules/child": child})
    assert errors == [
        "root/main.tf: module.child has no output 'missing'",
        "root/main.tf: module.nope is not declared",
        "root: module.child passes 'typo', which ./modules/child does not declare",
        "root: module.child does not pass required variable 'needed'",
    ]


def test_validation_referring_to_another_variable_is_reported():
    source = """
variable "a" {
  type = number
}

variable "b" {
  type = number

  validation {
    condition     = var.b > var.a
    error_message = "b must exceed a."
  }
}
"""
    assert check(source) == ["root: validation of var.b refers to var.a"]


def test_code_only_keeps_interpolations_and_drops_literals_and_comments():
    text = 'a = "x ${var.y} $${var.z} \\"q\\"" # var.c\n/* var.d */ b = local.e'
    code = tfcheck.code_only(text)
    assert "var.y" in code
    assert "local.e" in code
    assert "var.z" not in code
    assert "var.c" not in code
    assert "var.d" not in code
    assert len(code) == len(text)


def test_fmt_problems_finds_misaligned_and_misindented_lines():
    text = 'resource "a" "b" {\n  name = 1\n  longer = 2\n   x    = 3\n  tags = {\n    k = "v"\n  }\n}\n'
    assert tfcheck.fmt_problems(text) == [
        "line 4: indented 3 spaces, expected 2",
        "line 2: '=' not aligned with its neighbours",
        "line 4: '=' not aligned with its neighbours",
    ]


# -- scripts/tf-check.sh: a step that cannot run, or fails, fails the check ---------------------------

REPO = Path(__file__).resolve().parents[2]


def broken_copy(tmp_path: Path, broken_tf: str) -> Path:
    """terraform/ (and the route table it reads) copied, with one extra .tf file."""
    import shutil

    shutil.copytree(REPO / "functions", tmp_path / "functions")
    ignore = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfstate*")
    shutil.copytree(REPO / "terraform", tmp_path / "terraform", ignore=ignore)
    (tmp_path / "terraform" / "broken.tf").write_text(broken_tf)
    return tmp_path / "terraform"


def tf_check(tree: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(REPO / "scripts" / "tf-check.sh")],
        env={**os.environ, "TF_CHECK_DIR": str(tree), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_tf_check_fails_when_validate_finds_an_error(tmp_path):
    # GIVEN a well-formatted .tf that references a variable nobody declared
    tree = broken_copy(tmp_path, 'resource "aws_sns_topic" "broken" {\n  name = var.not_declared\n}\n')
    # WHEN tf-check runs on it THEN terraform validate fails it, before checkov
    result = tf_check(tree)
    assert result.returncode != 0, result.stdout
    assert "Reference to undeclared input variable" in result.stderr
    assert "tf-check: all checks passed" not in result.stdout


def test_tf_check_fails_on_unformatted_terraform(tmp_path):
    tree = broken_copy(tmp_path, 'resource "aws_sns_topic" "ugly" {\nname="x"\n}\n')
    result = tf_check(tree)
    assert result.returncode != 0
    assert "broken.tf" in result.stdout + result.stderr


def test_tf_check_fails_without_terraform(tmp_path):
    result = tf_check(REPO / "terraform", TF=str(tmp_path / "no-terraform-here"))
    assert result.returncode != 0
    assert "terraform is not installed" in result.stderr
