# Queues: each model that answers now has a work queue (Prefer: respond-async jobs) read by the worker
# at a maximum concurrency sized to the model's quota, so a burst waits instead of failing; webhook
# deliveries to callers have their own queue. Each has a dead-letter queue, alarmed (monitoring).

locals {
  # The models each route enables, the SageMaker endpoint's row with generate's when one is named (as the code adds it).
  function_models = {
    generate = concat(local.models.generate, var.sagemaker.endpoint_name == "" ? [] : ["sagemaker"])
    edit     = local.models.edit
  }
  # The enabled models that answer now (the catalog's providers table), by catalog name.
  queued_models = toset(concat(
    [for name in distinct(flatten(values(local.models))) : name if try(local.catalog.providers[local.catalog.models[name].provider].answers, "later") == "now"],
    var.sagemaker.endpoint_name == "" ? [] : ["sagemaker"],
  ))
  # An image call takes about 10 s, so a quota of q a minute keeps q / 6 calls busy; unknown: 2 (the least).
  worker_concurrency = {
    for name in local.queued_models : name => min(1000, max(2, lookup(var.queues.worker_concurrency, name, ceil(lookup(var.queues.quotas, name, 12) / 6))))
  }
  # SQS: a message is hidden from other consumers for six times the function's timeout (AWS's advice for
  # Lambda event sources), at most 12 h.
  visibility      = { for function in ["worker", "deliver"] : function => min(43200, 6 * var.functions[function].timeout) }
  work_queue_urls = { for name, queue in aws_sqs_queue.work : name => queue.url }
}

resource "aws_sqs_queue" "work_dead_letter" {
  name                      = "${var.name}-work-dead-letter"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "work" {
  for_each = local.queued_models

  name                       = "${var.name}-work-${replace(each.key, ".", "-")}"
  visibility_timeout_seconds = local.visibility.worker
  message_retention_seconds  = max(var.sweeper.job_timeout_seconds, 3600)
  sqs_managed_sse_enabled    = true
  redrive_policy             = jsonencode({ deadLetterTargetArn = aws_sqs_queue.work_dead_letter.arn, maxReceiveCount = 5 })
}

resource "aws_lambda_event_source_mapping" "work" {
  for_each = local.queued_models

  event_source_arn        = aws_sqs_queue.work[each.key].arn
  function_name           = module.functions["worker"].arn
  batch_size              = 1
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = local.worker_concurrency[each.key]
  }
}

resource "aws_sqs_queue" "deliveries_dead_letter" {
  name                      = "${var.name}-webhook-dead-letter"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "deliveries" {
  name                       = "${var.name}-webhook-deliveries"
  visibility_timeout_seconds = local.visibility.deliver
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy             = jsonencode({ deadLetterTargetArn = aws_sqs_queue.deliveries_dead_letter.arn, maxReceiveCount = 5 })
}

resource "aws_lambda_event_source_mapping" "deliver" {
  event_source_arn        = aws_sqs_queue.deliveries.arn
  function_name           = module.functions["deliver"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = var.queues.delivery_concurrency
  }
}
