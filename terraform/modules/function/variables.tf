variable "function_name" {
  description = "Name of the Lambda function; also names its IAM role and its log group /aws/lambda/<function_name>. Letters, digits, hyphens, underscores; at most 64 characters."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.function_name))
    error_message = "function_name must be 1-64 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  description = "Description of the Lambda function."
  type        = string
  default     = ""
}

variable "filename" {
  description = "Path of the deployment zip built by the Makefile (dist/functions/<name>.zip). Its hash redeploys the function when the code changes."
  type        = string
}

variable "handler" {
  description = "Entry point, module.function."
  type        = string
  default     = "handler.handler"
}

variable "runtime" {
  description = "Lambda runtime identifier, e.g. python3.12."
  type        = string
  default     = "python3.12"
}

variable "architecture" {
  description = "Instruction set: x86_64 or arm64. Must match the layers' wheels (the Makefile builds for its ARCH)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "layers" {
  description = "ARNs of the layer versions the function uses (at most 5), in order."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.layers) <= 5
    error_message = "A Lambda function can use at most 5 layers."
  }
}

variable "environment" {
  description = "Environment variables of the function. Never secret values: pass the names of SSM parameters instead."
  type        = map(string)
  default     = {}
}

variable "timeout" {
  description = "Timeout in seconds (1-900)."
  type        = number
  default     = 30

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900 && floor(var.timeout) == var.timeout
    error_message = "timeout must be a whole number of seconds between 1 and 900."
  }
}

variable "memory_size" {
  description = "Memory in MB (128-10240); CPU grows with it."
  type        = number
  default     = 256

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240 && floor(var.memory_size) == var.memory_size
    error_message = "memory_size must be a whole number of MB between 128 and 10240."
  }
}

variable "reserved_concurrent_executions" {
  description = "Concurrency reserved for (and capping) this function; null leaves it unreserved, 0 disables the function."
  type        = number
  default     = null

  validation {
    condition     = var.reserved_concurrent_executions == null ? true : var.reserved_concurrent_executions >= 0
    error_message = "reserved_concurrent_executions must be null or a number of at least 0."
  }
}

variable "tracing_mode" {
  description = "X-Ray tracing: PassThrough (trace only requests an upstream sampled) or Active (sample and trace; attaches AWSXRayDaemonWriteAccess to the role)."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be PassThrough or Active."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the function's logs; one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "policy_statements" {
  description = "Allow statements of the role's inline policy besides writing its own logs: sid, actions, resources (ARNs, no bare \"*\") and optional conditions."
  type = list(object({
    sid       = string
    actions   = list(string)
    resources = list(string)
    conditions = optional(list(object({
      test     = string
      variable = string
      values   = list(string)
    })), [])
  }))
  default = []

  validation {
    condition     = alltrue([for statement in var.policy_statements : !contains(statement.actions, "*") && (!contains(statement.resources, "*") || alltrue([for action in statement.actions : startswith(action, "aws-marketplace:")])) && length(statement.resources) > 0])
    error_message = "policy_statements must name their resources: no bare \"*\" in actions or resources (but for aws-marketplace actions, which have no resource-level permissions), and at least one resource each."
  }
}

variable "tags" {
  description = "Tags for the function, its role and its log group (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "application_log_level" {
  description = "Lowest level of the function's own log records Lambda keeps (JSON log format): TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.application_log_level)
    error_message = "application_log_level must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL."
  }
}

variable "system_log_level" {
  description = "Lowest level of Lambda's own platform log records (START, END, REPORT...): DEBUG, INFO or WARN."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.system_log_level)
    error_message = "system_log_level must be DEBUG, INFO or WARN."
  }
}
