data "aws_partition" "current" {}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs already encrypts at rest; a customer key would need a key policy for the logs service, and the handlers never log secrets or image data.
  #checkov:skip=CKV_AWS_338:Retention is the operator's choice (logs.retention_days); logs hold prompts, so keeping them a year by default is a privacy cost rather than a control.
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = var.function_name
  description        = "Execution role of the ${var.function_name} Lambda function"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    # ":*" is this log group's own streams (Lambda names them per execution environment), as the Lambda console writes it.
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  dynamic "statement" {
    for_each = var.policy_statements

    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = statement.value.conditions

        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "${var.function_name}-permissions"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_iam_role_policy_attachment" "xray" {
  count = var.tracing_mode == "Active" ? 1 : 0

  # X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions (resource "*" only),
  # so the AWS managed policy is attached instead of writing a "*" statement here, and only when tracing is Active.
  role       = aws_iam_role.this.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:No dead-letter queue: API Gateway invokes these functions synchronously, so errors go back to the caller (or to Replicate, which retries webhooks).
  #checkov:skip=CKV_AWS_117:No VPC: the functions call only public AWS APIs (S3, SSM, Bedrock, SageMaker runtime) and Replicate; a VPC would need NAT for Replicate and adds cold-start time.
  #checkov:skip=CKV_AWS_272:Code signing is out of scope: zips are built reproducibly by the Makefile and deployed by the same pipeline.
  #checkov:skip=CKV_AWS_173:The environment holds no secrets (only SSM parameter names and settings) and is encrypted at rest with the AWS managed key.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is optional (functions.*.reserved_concurrency): accounts with a low concurrency quota cannot reserve any; the API stage throttling caps the request rate.
  #checkov:skip=CKV_AWS_50:X-Ray is the operator's choice (logs.tracing_mode, PassThrough by default: every trace is billed); Active attaches the daemon policy.
  function_name                  = var.function_name
  description                    = var.description
  role                           = aws_iam_role.this.arn
  filename                       = var.filename
  source_code_hash               = filebase64sha256(var.filename)
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  layers                         = var.layers
  timeout                        = var.timeout
  memory_size                    = var.memory_size
  reserved_concurrent_executions = var.reserved_concurrent_executions
  tags                           = var.tags

  environment {
    variables = var.environment
  }

  tracing_config {
    mode = var.tracing_mode
  }

  # Lambda's native JSON logs: each stdlib logging record becomes one JSON object (with the
  # request fields imagegen.logs adds), levels filtered by Lambda itself.
  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.this.name
    application_log_level = var.application_log_level
    system_log_level      = var.system_log_level
  }

  depends_on = [
    aws_cloudwatch_log_group.this,
    aws_iam_role_policy.this,
    aws_iam_role_policy_attachment.xray,
  ]
}
