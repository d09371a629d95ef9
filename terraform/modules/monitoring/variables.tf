variable "name" {
  description = "Prefix of the alarm and dashboard names (the deployment's name)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,200}$", var.name))
    error_message = "name must be 1-200 letters, digits, hyphens or underscores."
  }
}

variable "region" {
  description = "Region of the metrics the dashboard shows (the deployment's region)."
  type        = string
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the functions' Embedded Metric Format metrics (their METRICS_NAMESPACE)."
  type        = string

  validation {
    condition     = length(var.metrics_namespace) > 0 && length(var.metrics_namespace) <= 255 && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters and not start with AWS/."
  }
}

variable "function_names" {
  description = "The Lambda functions to watch: a map of a short key (e.g. the route table's function name) to the deployed function name. Every function gets error and throttle alarms and a dashboard line."
  type        = map(string)
}

variable "api_id" {
  description = "ID of the HTTP API whose 5xx rate and latency are watched."
  type        = string
}

variable "api_stage" {
  description = "Stage of the HTTP API (AWS/ApiGateway Stage dimension)."
  type        = string
  default     = "$default"
}

variable "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify (on ALARM and OK). null: no alarms are created; the dashboard still is."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>) or null."
  }
}

variable "thresholds" {
  description = "Alarm thresholds, each over 5 minutes: api_5xx_percent (5xx share of API requests), function_errors and function_throttles (per function), webhook_signature_failures (webhooks refused for a bad signature: a spike means a wrong secret or someone probing), sweeper_timeouts (jobs the sweeper marked timed out), bedrock_throttles (Bedrock calls answered 429), budget_refusals (requests refused for a key's budget), budgets_almost_spent (keys passing 80% of a budget), queue_age_seconds (the oldest message of a work or delivery queue; any message in a dead-letter queue alarms)."
  type = object({
    api_5xx_percent            = optional(number, 5)
    function_errors            = optional(number, 1)
    function_throttles         = optional(number, 1)
    webhook_signature_failures = optional(number, 10)
    sweeper_timeouts           = optional(number, 1)
    bedrock_throttles          = optional(number, 5)
    budget_refusals            = optional(number, 1)
    budgets_almost_spent       = optional(number, 1)
    queue_age_seconds          = optional(number, 3600)
  })
  default = {}

  validation {
    condition     = alltrue([for value in values(var.thresholds) : value > 0])
    error_message = "Every threshold must be above 0."
  }
}

variable "tags" {
  description = "Tags for the alarms (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "queues" {
  description = "SQS queues to watch, by a short key: name (the queue's name) and dead_letter (true: any message alarms; false: its oldest message's age does)."
  type = map(object({
    name        = string
    dead_letter = bool
  }))
  default = {}
}
