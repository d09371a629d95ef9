variable "name" {
  description = "Name of the HTTP API; also names its access log group /aws/apigateway/<name> and its authorizer (<name>-jwt or <name>-api-key)."
  type        = string
}

variable "description" {
  description = "Description of the HTTP API."
  type        = string
  default     = ""
}

variable "routes" {
  description = "Route key (\"METHOD /path\") => function (a key of var.functions) and whether var.authorization applies (authorized = false: open route)."
  type = map(object({
    function   = string
    authorized = bool
  }))

  validation {
    condition     = alltrue([for key in keys(var.routes) : can(regex("^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) /", key))])
    error_message = "Each route key must be \"METHOD /path\" with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY."
  }
}

variable "functions" {
  description = "Function key => Lambda function_name and invoke_arn. One integration and one invoke permission is made per function."
  type = map(object({
    function_name = string
    invoke_arn    = string
  }))
}

variable "authorization" {
  description = "How routes with authorized = true are authorized. type: API_KEY (a Lambda REQUEST authorizer, authorizer_function, on the Authorization header; routes are CUSTOM), AWS_IAM (SigV4-signed requests), JWT (issuer and audience required) or NONE. cache_seconds (API_KEY only, 0-3600): how long API Gateway caches the authorizer's answer per Authorization value."
  type = object({
    type          = optional(string, "AWS_IAM")
    issuer        = optional(string)
    audience      = optional(list(string), [])
    cache_seconds = optional(number, 300)
  })
  default = {}

  validation {
    condition     = contains(["API_KEY", "AWS_IAM", "JWT", "NONE"], var.authorization.type)
    error_message = "authorization.type must be API_KEY, AWS_IAM, JWT or NONE."
  }

  validation {
    condition     = var.authorization.cache_seconds >= 0 && var.authorization.cache_seconds <= 3600 && floor(var.authorization.cache_seconds) == var.authorization.cache_seconds
    error_message = "authorization.cache_seconds must be a whole number of seconds between 0 and 3600."
  }

  validation {
    condition     = var.authorization.type != "JWT" || (can(regex("^https://", var.authorization.issuer)) && length(var.authorization.audience) > 0)
    error_message = "A JWT authorization needs an https:// issuer and at least one audience."
  }
}

variable "authorizer_function" {
  description = "The Lambda authorizer of authorization.type API_KEY: function_name (API Gateway gets permission to invoke it) and invoke_arn; null for any other type. A plan with API_KEY and no authorizer_function fails."
  type = object({
    function_name = string
    invoke_arn    = string
  })
  default = null
}

variable "cors_allowed_origins" {
  description = "Origins browsers may call the API from (\"*\" for any, or https://host[:port]). Empty turns the API's CORS handling off."
  type        = list(string)
  default     = []
}

variable "cors_allowed_methods" {
  description = "Methods allowed in CORS requests."
  type        = list(string)
  default     = ["GET", "POST", "OPTIONS"]
}

variable "cors_allowed_headers" {
  description = "Request headers allowed in CORS requests (prefer: Prefer: wait and respond-async; SigV4 needs the x-amz-* ones)."
  type        = list(string)
  default     = ["authorization", "content-type", "prefer", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"]
}

variable "cors_exposed_headers" {
  description = "Answer headers a page on another origin may read: a 429's Retry-After, a job's Location, Preference-Applied."
  type        = list(string)
  default     = ["retry-after", "location", "preference-applied"]
}

variable "cors_max_age_seconds" {
  description = "Seconds browsers may cache a preflight response."
  type        = number
  default     = 3600
}

variable "throttling" {
  description = "Default route throttling of the $default stage: burst_limit (requests) and rate_limit (requests per second)."
  type = object({
    burst_limit = optional(number, 50)
    rate_limit  = optional(number, 20)
  })
  default = {}

  validation {
    condition     = var.throttling.burst_limit >= 0 && var.throttling.rate_limit >= 0 && floor(var.throttling.burst_limit) == var.throttling.burst_limit
    error_message = "throttling.burst_limit must be a whole number of at least 0 and throttling.rate_limit at least 0."
  }
}

variable "detailed_metrics_enabled" {
  description = "Per-route CloudWatch metrics (billed as custom metrics)."
  type        = bool
  default     = false
}

variable "integration_timeout_milliseconds" {
  description = "How long API Gateway waits for a function (50-30000 ms; 30 s is the HTTP API maximum, whatever the Lambda timeout)."
  type        = number
  default     = 30000

  validation {
    condition     = var.integration_timeout_milliseconds >= 50 && var.integration_timeout_milliseconds <= 30000
    error_message = "integration_timeout_milliseconds must be between 50 and 30000."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the access logs; one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "tags" {
  description = "Tags for the API, its stage and its log group (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}

variable "route_throttling" {
  description = "Throttling of single routes, by route key (e.g. the webhook route), overriding the stage's default route settings."
  type = map(object({
    burst_limit = number
    rate_limit  = number
  }))
  default = {}
}
