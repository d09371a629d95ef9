locals {
  alarms_enabled = var.alarm_topic_arn != null
  actions        = local.alarms_enabled ? [var.alarm_topic_arn] : []
  period         = 300

  # One alarm per function and metric (errors, throttles): keys like "edit/Errors".
  function_alarms = {
    for pair in setproduct(keys(var.function_names), ["Errors", "Throttles"]) : "${pair[0]}/${pair[1]}" => {
      function  = var.function_names[pair[0]]
      metric    = pair[1]
      threshold = pair[1] == "Errors" ? var.thresholds.function_errors : var.thresholds.function_throttles
    }
  }

  # Alarms on the functions' own EMF metrics (imagegen.logs): name => metric, dimensions, threshold, description.
  custom_alarms = {
    webhook-signature-failures = {
      metric      = "WebhookRejected"
      dimensions  = { reason = "invalid_signature" }
      threshold   = var.thresholds.webhook_signature_failures
      description = "Replicate webhooks refused for a bad signature: a wrong webhook secret, or someone probing the webhook URL."
    }
    sweeper-timeouts = {
      metric      = "SweeperActions"
      dimensions  = { action = "timed_out" }
      threshold   = var.thresholds.sweeper_timeouts
      description = "Jobs the sweeper marked timed out: their webhook never came (Replicate down, or the webhook URL unreachable)."
    }
    budget-refusals = {
      metric      = "BudgetRefused"
      dimensions  = {}
      threshold   = var.thresholds.budget_refusals
      description = "Requests refused because an API key's budget was spent (429 insufficient_quota): raise the key's budget (scripts/keys.py set) or look at who spends it."
    }
    budgets-almost-spent = {
      metric      = "BudgetAlmostSpent"
      dimensions  = {}
      threshold   = var.thresholds.budgets_almost_spent
      description = "An API key passed 80% of its day's or month's budget."
    }
    bedrock-throttling = {
      metric      = "ProviderThrottled"
      dimensions  = { provider = "bedrock" }
      threshold   = var.thresholds.bedrock_throttles
      description = "Bedrock answered ThrottlingException (clients got 429): raise the model's quota or spread the load."
    }
  }

  custom_metrics = ["ImagesStored", "JobsFailed", "ProviderLatency", "ProviderThrottled", "WebhookRejected", "SweeperActions", "EstimatedCost", "BudgetRefused", "KeySpend"]
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  count = local.alarms_enabled ? 1 : 0

  alarm_name          = "${var.name}-api-5xx-rate"
  alarm_description   = "More than ${var.thresholds.api_5xx_percent}% of API requests answered 5xx over 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = 1
  threshold           = var.thresholds.api_5xx_percent
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "errors"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5xx"
      dimensions  = { ApiId = var.api_id, Stage = var.api_stage }
      period      = local.period
      stat        = "Sum"
    }
  }

  metric_query {
    id = "requests"

    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      dimensions  = { ApiId = var.api_id, Stage = var.api_stage }
      period      = local.period
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each = local.alarms_enabled ? local.function_alarms : {}

  alarm_name          = "${each.value.function}-${lower(each.value.metric)}"
  alarm_description   = "${each.value.function}: ${each.value.metric} reached ${each.value.threshold} in 5 minutes."
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = each.value.function }
  statistic           = "Sum"
  period              = local.period
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "custom" {
  for_each = local.alarms_enabled ? local.custom_alarms : {}

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = var.metrics_namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = "Sum"
  period              = local.period
  evaluation_periods  = 1
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "API requests, 4xx, 5xx"
          region  = var.region
          stat    = "Sum"
          period  = local.period
          metrics = [for name in ["Count", "4xx", "5xx"] : ["AWS/ApiGateway", name, "ApiId", var.api_id, "Stage", var.api_stage]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "API latency (p50, p95)"
          region  = var.region
          period  = local.period
          metrics = [for stat in ["p50", "p95"] : ["AWS/ApiGateway", "Latency", "ApiId", var.api_id, "Stage", var.api_stage, { stat = stat }]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Function errors and throttles"
          region  = var.region
          stat    = "Sum"
          period  = local.period
          metrics = [for key, alarm in local.function_alarms : ["AWS/Lambda", alarm.metric, "FunctionName", alarm.function]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Function duration (p95, ms)"
          region  = var.region
          period  = local.period
          metrics = [for key, function in var.function_names : ["AWS/Lambda", "Duration", "FunctionName", function, { stat = "p95" }]]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title   = "Jobs: images stored, failed, sweeper actions"
          region  = var.region
          stat    = "Sum"
          period  = local.period
          metrics = [for name in ["ImagesStored", "JobsFailed", "SweeperActions"] : [var.metrics_namespace, name]]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "Provider latency (p95, ms), throttling, webhook rejections"
          region  = var.region
          period  = local.period
          metrics = [[var.metrics_namespace, "ProviderLatency", { stat = "p95" }], [var.metrics_namespace, "ProviderThrottled", { stat = "Sum" }], [var.metrics_namespace, "WebhookRejected", { stat = "Sum" }]]
        }
      },
      {
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title   = "Estimated Lambda duration cost (USD, list price)"
          region  = var.region
          stat    = "Sum"
          period  = 3600
          metrics = [[var.metrics_namespace, "EstimatedCost"]]
        }
      },
    ]
  })
}

# A work or delivery queue whose oldest message is older than queue_age_seconds (the workers cannot
# keep up, or the model keeps throttling); any message in a dead-letter queue (a job or a webhook given up).
resource "aws_cloudwatch_metric_alarm" "queue" {
  for_each = local.alarms_enabled ? var.queues : {}

  alarm_name          = "${var.name}-queue-${each.key}"
  alarm_description   = each.value.dead_letter ? "${each.value.name} holds a message given up on." : "${each.value.name}'s oldest message is over ${var.thresholds.queue_age_seconds} s old."
  namespace           = "AWS/SQS"
  metric_name         = each.value.dead_letter ? "ApproximateNumberOfMessagesVisible" : "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value.name }
  statistic           = "Maximum"
  period              = local.period
  evaluation_periods  = 1
  threshold           = each.value.dead_letter ? 1 : var.thresholds.queue_age_seconds
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}
