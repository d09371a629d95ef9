# Inputs, in bannered sections in the order of the code: deployment, bucket, logs, API, functions,
# models, providers, analysis, operations. One sentence each; the details: docs/configuration.md.
# Renamed in 0.2: docs/UPGRADE-0.2.md.

# ==================================================================================================
# Deployment
# ==================================================================================================

variable "region" {
  description = "AWS region of the stack; Bedrock models run where their catalog row says, whatever this is. See docs/configuration.md."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like an AWS region, e.g. us-east-1."
  }
}

variable "name" {
  description = "Prefix of every name (functions, roles, layers, log groups, API, bucket): 3-24 lowercase letters, digits and hyphens. See docs/configuration.md."
  type        = string
  default     = "imagegen"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 lowercase letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "tags" {
  description = "Tags added to every resource (through the provider's default_tags)."
  type        = map(string)
  default = {
    project = "imagegen"
  }
}

variable "architecture" {
  description = "Instruction set of every function and layer, x86_64 or arm64; build for it with `make build ARCH=...`. See docs/configuration.md."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "artifacts_dir" {
  description = "Directory holding the Makefile's zips; null: the repository's dist/ (run `make build` before plan)."
  type        = string
  default     = null
}


# ==================================================================================================
# Bucket
# ==================================================================================================

variable "bucket" {
  description = "The one bucket: name (null: <name>-<account>-<region>), force_destroy, versioning (7 days of previous versions) and expiry_days per prefix. See docs/configuration.md."
  type = object({
    name          = optional(string)
    force_destroy = optional(bool, false)
    versioning    = optional(bool, true)
    expiry_days = optional(object({
      images  = optional(number, 30)
      uploads = optional(number, 1)
      jobs    = optional(number, 30)
      usage   = optional(number, 400)
    }), {})
  })
  default = {}

  validation {
    condition     = var.bucket.name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket.name))
    error_message = "bucket.name must be 3-63 lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit."
  }

  validation {
    condition     = alltrue([for days in values(var.bucket.expiry_days) : days >= 1 && floor(days) == days])
    error_message = "Each bucket.expiry_days value (images, uploads, jobs, usage) must be a whole number of at least 1."
  }
}

# ==================================================================================================
# Keys for a team
# ==================================================================================================

variable "keys" {
  description = "Limits a new API key carries unless its operator sets others (make api-key, scripts/keys.py): budget_usd_day and budget_usd_month (USD at list price, UTC), rpm (requests per minute on the routes that call a model), models (catalog names), max_model_calls (per request, below api.max_model_calls), expires_days. Null: no such limit. See docs/auth.md."
  type = object({
    budget_usd_day   = optional(number)
    budget_usd_month = optional(number)
    rpm              = optional(number)
    models           = optional(list(string))
    max_model_calls  = optional(number)
    expires_days     = optional(number)
  })
  default = {}

  validation {
    condition     = alltrue([for name in ["budget_usd_day", "budget_usd_month", "rpm", "max_model_calls", "expires_days"] : var.keys[name] == null ? true : var.keys[name] > 0])
    error_message = "Each keys limit must be above 0 (or null: no such limit)."
  }

  validation {
    condition     = alltrue([for name in coalesce(var.keys.models, []) : contains(keys(jsondecode(file("${path.module}/../src/imagegen/catalog.json")).models), name)])
    error_message = "keys.models must name models of the catalog (src/imagegen/catalog.json)."
  }
}

# ==================================================================================================
# Logs
# ==================================================================================================

variable "logs" {
  description = "Function logs and traces: level (LOG_LEVEL), system_level (Lambda's platform records), retention_days (functions and access logs) and tracing_mode (X-Ray). See docs/configuration.md."
  type = object({
    level          = optional(string, "INFO")
    system_level   = optional(string, "INFO")
    retention_days = optional(number, 30)
    tracing_mode   = optional(string, "PassThrough")
  })
  default = {}

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.logs.level)
    error_message = "logs.level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.logs.system_level)
    error_message = "logs.system_level must be DEBUG, INFO or WARN."
  }

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.logs.retention_days)
    error_message = "logs.retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }

  validation {
    condition     = contains(["PassThrough", "Active"], var.logs.tracing_mode)
    error_message = "logs.tracing_mode must be PassThrough or Active."
  }
}

# ==================================================================================================
# API
# ==================================================================================================

variable "auth" {
  description = "Authorization of the routes with auth: API_KEY (default; `make api-key`), AWS_IAM, JWT (issuer, audience) or NONE; cache_seconds for API_KEY. See docs/configuration.md."
  type = object({
    type          = optional(string, "API_KEY")
    issuer        = optional(string)
    audience      = optional(list(string), [])
    cache_seconds = optional(number, 300)
  })
  default = {}

  validation {
    condition     = contains(["API_KEY", "AWS_IAM", "JWT", "NONE"], var.auth.type)
    error_message = "auth.type must be API_KEY, AWS_IAM, JWT or NONE."
  }

  validation {
    condition     = var.auth.type != "JWT" || (can(regex("^https://", var.auth.issuer)) && length(var.auth.audience) > 0)
    error_message = "A JWT auth needs an https:// issuer and at least one audience."
  }

  validation {
    condition     = var.auth.cache_seconds >= 0 && var.auth.cache_seconds <= 3600 && floor(var.auth.cache_seconds) == var.auth.cache_seconds
    error_message = "auth.cache_seconds must be a whole number of seconds between 0 and 3600."
  }
}

variable "api" {
  description = "The HTTP API: CORS origins ([] turns CORS off), stage and webhook-route throttling, presigned URL lifetime, the longest `Prefer: wait`, the public URL Replicate calls back on, the default response_format, and the most billed model calls one request may make (images x n). See docs/configuration.md."
  type = object({
    cors_allowed_origins = optional(list(string), ["*"])
    throttling = optional(object({
      burst_limit = optional(number, 50)
      rate_limit  = optional(number, 20)
    }), {})
    webhook_throttling = optional(object({
      burst_limit = optional(number, 100)
      rate_limit  = optional(number, 50)
    }), {})
    url_expiry_seconds      = optional(number, 900)
    prefer_wait_max_seconds = optional(number, 20)
    default_response_format = optional(string, "url")
    public_base_url         = optional(string, "")
    max_model_calls         = optional(number, 32)
  })
  default = {}

  validation {
    condition     = var.api.max_model_calls >= 1 && var.api.max_model_calls <= 32 && floor(var.api.max_model_calls) == var.api.max_model_calls
    error_message = "api.max_model_calls must be a whole number between 1 and 32."
  }

  validation {
    condition     = alltrue([for origin in var.api.cors_allowed_origins : origin == "*" || can(regex("^https?://[^/\\s]+$", origin))])
    error_message = "Each api.cors_allowed_origins entry must be \"*\" or a scheme://host[:port] origin without a path."
  }

  validation {
    condition     = var.api.throttling.burst_limit >= 0 && var.api.throttling.rate_limit >= 0 && floor(var.api.throttling.burst_limit) == var.api.throttling.burst_limit
    error_message = "api.throttling.burst_limit must be a whole number of at least 0 and api.throttling.rate_limit at least 0."
  }

  validation {
    condition     = var.api.webhook_throttling.burst_limit >= 1 && var.api.webhook_throttling.rate_limit >= 1 && floor(var.api.webhook_throttling.burst_limit) == var.api.webhook_throttling.burst_limit
    error_message = "webhook_api.throttling.burst_limit must be a whole number of at least 1 and api.webhook_throttling.rate_limit at least 1."
  }

  validation {
    condition     = var.api.url_expiry_seconds >= 60 && var.api.url_expiry_seconds <= 604800 && floor(var.api.url_expiry_seconds) == var.api.url_expiry_seconds
    error_message = "api.url_expiry_seconds must be a whole number between 60 and 604800."
  }

  validation {
    condition     = var.api.prefer_wait_max_seconds >= 0 && var.api.prefer_wait_max_seconds <= 29 && floor(var.api.prefer_wait_max_seconds) == var.api.prefer_wait_max_seconds
    error_message = "api.prefer_wait_max_seconds must be a whole number between 0 and 29."
  }

  validation {
    condition     = contains(["url", "b64_json"], var.api.default_response_format)
    error_message = "api.default_response_format must be url or b64_json."
  }

  validation {
    condition     = var.api.public_base_url == "" || can(regex("^https://[^/\\s]+(/\\S*)?$", var.api.public_base_url))
    error_message = "api.public_base_url must be empty or an https:// URL."
  }
}

# ==================================================================================================
# Functions
# ==================================================================================================

variable "functions" {
  description = "Per function: timeout (1-900 s), memory_size (128-10240 MB) and reserved_concurrency (null: unreserved); the defaults suit each function. See docs/configuration.md."
  type = object({
    generate = optional(object({
      timeout              = optional(number, 60)
      memory_size          = optional(number, 512)
      reserved_concurrency = optional(number)
    }), {})
    edit = optional(object({
      timeout              = optional(number, 60)
      memory_size          = optional(number, 512)
      reserved_concurrency = optional(number)
    }), {})
    replicate_webhook = optional(object({
      timeout              = optional(number, 30)
      memory_size          = optional(number, 512)
      reserved_concurrency = optional(number)
    }), {})
    get_job = optional(object({
      timeout              = optional(number, 15)
      memory_size          = optional(number, 256)
      reserved_concurrency = optional(number)
    }), {})
    cancel_job = optional(object({
      timeout              = optional(number, 15)
      memory_size          = optional(number, 256)
      reserved_concurrency = optional(number)
    }), {})
    sweeper = optional(object({
      timeout              = optional(number, 300)
      memory_size          = optional(number, 512)
      reserved_concurrency = optional(number)
    }), {})
    worker = optional(object({
      timeout              = optional(number, 900)
      memory_size          = optional(number, 1024)
      reserved_concurrency = optional(number)
    }), {})
    deliver = optional(object({
      timeout              = optional(number, 30)
      memory_size          = optional(number, 256)
      reserved_concurrency = optional(number)
    }), {})
    webhook_secret = optional(object({
      timeout              = optional(number, 10)
      memory_size          = optional(number, 256)
      reserved_concurrency = optional(number)
    }), {})
    authorizer = optional(object({
      timeout              = optional(number, 5)
      memory_size          = optional(number, 256)
      reserved_concurrency = optional(number)
    }), {})
    models = optional(object({
      timeout              = optional(number, 5)
      memory_size          = optional(number, 128)
      reserved_concurrency = optional(number)
    }), {})
    analyze = optional(object({
      timeout              = optional(number, 30)
      memory_size          = optional(number, 1024)
      reserved_concurrency = optional(number)
    }), {})
    usage = optional(object({
      timeout              = optional(number, 15)
      memory_size          = optional(number, 256)
      reserved_concurrency = optional(number)
    }), {})
    web = optional(object({
      timeout              = optional(number, 5)
      memory_size          = optional(number, 128)
      reserved_concurrency = optional(number)
    }), {})
  })
  default = {}

  validation {
    condition     = alltrue([for settings in values(var.functions) : settings.timeout >= 1 && settings.timeout <= 900 && floor(settings.timeout) == settings.timeout])
    error_message = "Each functions timeout must be a whole number of seconds between 1 and 900."
  }

  validation {
    condition     = alltrue([for settings in values(var.functions) : settings.memory_size >= 128 && settings.memory_size <= 10240 && floor(settings.memory_size) == settings.memory_size])
    error_message = "Each functions memory_size must be a whole number of MB between 128 and 10240."
  }

  validation {
    condition     = alltrue([for settings in values(var.functions) : settings.reserved_concurrency == null ? true : settings.reserved_concurrency >= 0])
    error_message = "Each functions reserved_concurrency must be null or at least 0."
  }
}


# ==================================================================================================
# Models
# ==================================================================================================

variable "models" {
  description = "Catalog names of the models generate and edit may use, the first each route's default (null: the catalog's defaults), and aliases (alias => catalog name). See docs/configuration.md."
  type = object({
    generate = optional(list(string))
    edit     = optional(list(string))
    aliases  = optional(map(string), {})
  })
  default = {}

  validation {
    condition     = alltrue([for name in concat(coalesce(var.models.generate, []), coalesce(var.models.edit, [])) : can(regex("^[a-z0-9][a-z0-9.-]{0,63}$", name))])
    error_message = "models lists catalog names such as sd3.5-large or flux-schnell (lowercase letters, digits, . and -)."
  }

  validation {
    condition     = alltrue([for alias, model in var.models.aliases : can(regex("^[A-Za-z0-9_.:/-]{1,100}$", alias)) && can(regex("^[A-Za-z0-9_.:/-]{1,200}$", model))])
    error_message = "models.aliases maps an alias to a model id, both non-empty and made of letters, digits and _ . : / -."
  }
}

# ==================================================================================================
# Providers
# ==================================================================================================

variable "bedrock" {
  description = "Bedrock and SageMaker calls: read_timeout_seconds (1-900, below the generate and edit timeouts) and marketplace_subscribe (let first use subscribe the account, as Bedrock does). See docs/configuration.md."
  type = object({
    read_timeout_seconds  = optional(number, 25)
    marketplace_subscribe = optional(bool, true)
  })
  default = {}

  validation {
    condition     = var.bedrock.read_timeout_seconds >= 1 && var.bedrock.read_timeout_seconds <= 900
    error_message = "bedrock.read_timeout_seconds must be between 1 and 900."
  }
}
variable "replicate" {
  description = "Replicate: the SSM parameter names of its API token and webhook secret (created out of band), its base URL, the edit inputs clients may set, the output hosts and largest output the webhook stores. See docs/configuration.md."
  type = object({
    api_token_parameter_name      = optional(string, "/imagegen/replicate/api-token")
    webhook_secret_parameter_name = optional(string, "/imagegen/replicate/webhook-secret")
    base_url                      = optional(string, "https://api.replicate.com")
    edit_inputs                   = optional(map(list(string)), {})
    output_hosts                  = optional(list(string), ["replicate.delivery", "*.replicate.delivery"])
    max_output_bytes              = optional(number, 26214400)
  })
  default = {}

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.replicate.api_token_parameter_name))
    error_message = "replicate.api_token_parameter_name must be a hierarchical SSM parameter name such as /imagegen/replicate/api-token."
  }

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.replicate.webhook_secret_parameter_name))
    error_message = "replicate.webhook_secret_parameter_name must be a hierarchical SSM parameter name such as /imagegen/replicate/webhook-secret."
  }

  validation {
    condition     = can(regex("^https?://[^/\\s]+(/\\S*)?$", var.replicate.base_url))
    error_message = "replicate.base_url must be an http(s) URL."
  }

  validation {
    condition     = alltrue([for model, inputs in var.replicate.edit_inputs : can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", model)) && alltrue([for name in inputs : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", name))])])
    error_message = "replicate.edit_inputs maps owner/name to a list of input names (letters, digits, underscores)."
  }

  validation {
    condition     = length(var.replicate.output_hosts) > 0 && alltrue([for host in var.replicate.output_hosts : can(regex("^(\\*\\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", host))])
    error_message = "replicate.output_hosts must be a non-empty list of lowercase host names, each optionally prefixed with \"*.\"."
  }

  validation {
    condition     = var.replicate.max_output_bytes >= 1024 && floor(var.replicate.max_output_bytes) == var.replicate.max_output_bytes
    error_message = "replicate.max_output_bytes must be a whole number of at least 1024."
  }
}
variable "sagemaker" {
  description = "The SageMaker endpoint generate may invoke (endpoint_name; empty turns the provider off and grants nothing). See docs/configuration.md."
  type = object({
    endpoint_name = optional(string, "")
  })
  default = {}

  validation {
    condition     = can(regex("^([A-Za-z0-9](-*[A-Za-z0-9]){0,62})?$", var.sagemaker.endpoint_name))
    error_message = "sagemaker.endpoint_name must be empty or a SageMaker endpoint name (1-63 letters, digits and hyphens)."
  }
}

# ==================================================================================================
# Analysis
# ==================================================================================================

variable "analysis_models" {
  description = "The ONNX models of the analysis routes, one row per task (classification, detection): bucket keys, input size, preprocessing; empty: the routes answer 501. See docs/configuration.md."
  type = map(object({
    key        = string
    labels_key = optional(string)
    labels     = optional(list(string))
    input_size = list(number)
    layout     = optional(string)
    mean       = optional(list(number))
    std        = optional(list(number))
    resize     = optional(string)
    output     = optional(string)
    softmax    = optional(bool)
  }))
  default = {}

  validation {
    condition     = alltrue([for task in keys(var.analysis_models) : contains(["classification", "detection"], task)])
    error_message = "analysis_models has one row per task: its keys may only be \"classification\" and \"detection\"."
  }

  validation {
    condition     = alltrue([for row in values(var.analysis_models) : can(regex("^models(/[A-Za-z0-9_][A-Za-z0-9._-]*)+\\.onnx$", row.key)) && (row.labels_key == null ? true : can(regex("^models(/[A-Za-z0-9_][A-Za-z0-9._-]*)+\\.txt$", row.labels_key)))])
    error_message = "Each analysis_models key must be a bucket key models/....onnx and each labels_key models/....txt (path segments of letters, digits, . _ -, none starting with a dot; no wildcards): models/ is the prefix the bucket never expires, and the role may read exactly these keys."
  }

  validation {
    condition     = alltrue([for row in values(var.analysis_models) : (row.labels_key == null) != (row.labels == null) && (row.labels == null ? true : length(row.labels) > 0 && alltrue([for label in coalesce(row.labels, []) : label != ""]))])
    error_message = "Each analysis_models row needs exactly one of labels_key (a label file in the bucket) or labels (a non-empty list of non-empty labels)."
  }

  validation {
    condition     = alltrue([for row in values(var.analysis_models) : length(row.input_size) == 2 && alltrue([for size in row.input_size : size >= 1 && size <= 4096 && floor(size) == size])])
    error_message = "Each analysis_models input_size must be [width, height], two whole numbers from 1 to 4096."
  }

  validation {
    condition     = alltrue([for row in values(var.analysis_models) : contains(["NCHW", "NHWC"], coalesce(row.layout, "NCHW")) && contains(["stretch", "letterbox"], coalesce(row.resize, "stretch"))])
    error_message = "Each analysis_models layout must be NCHW or NHWC, and each resize stretch or letterbox."
  }

  validation {
    condition     = alltrue([for row in values(var.analysis_models) : (row.mean == null ? true : length(row.mean) == 3) && (row.std == null ? true : length(row.std) == 3 && alltrue([for value in coalesce(row.std, [1]) : value > 0]))])
    error_message = "Each analysis_models mean must be 3 numbers (R, G, B), and each std 3 positive numbers."
  }

  validation {
    condition     = alltrue([for task, row in var.analysis_models : task == "detection" ? contains(["yolo", "boxes_scores"], coalesce(row.output, "none")) && row.softmax == null : row.output == null])
    error_message = "analysis_models.detection needs output = \"yolo\" or \"boxes_scores\" (and takes no softmax); a classification row takes no output."
  }

  validation {
    # Lambda allows 4 KB of environment in all: long label lists belong in a label file.
    condition     = length(jsonencode({ for task, row in var.analysis_models : task => { for name, value in row : name => value if value != null } })) <= 3000
    error_message = "analysis_models is over 3000 characters as JSON, and a function's environment may hold 4 KB in all: put long label lists in a label file (labels_key)."
  }
}


# ==================================================================================================
# Operations
# ==================================================================================================

variable "sweeper" {
  description = "The job sweeper: how often it runs, when a job counts as stuck, and the job timeout (also every prediction's Cancel-After). See docs/configuration.md."
  type = object({
    interval_minutes    = optional(number, 5)
    after_seconds       = optional(number, 300)
    job_timeout_seconds = optional(number, 3600)
  })
  default = {}

  validation {
    condition     = var.sweeper.interval_minutes >= 1 && var.sweeper.interval_minutes <= 1440 && floor(var.sweeper.interval_minutes) == var.sweeper.interval_minutes
    error_message = "sweeper.interval_minutes must be a whole number between 1 and 1440."
  }

  validation {
    condition     = var.sweeper.after_seconds >= 60 && var.sweeper.after_seconds <= 86400 && var.sweeper.job_timeout_seconds >= 300 && var.sweeper.job_timeout_seconds <= 604800
    error_message = "sweeper.after_seconds must be 60-86400 and sweeper.job_timeout_seconds 300-604800."
  }
}

variable "alarms" {
  description = "CloudWatch alarms: topic_arn of the SNS topic they notify (null: no alarms; the dashboard is always made) and thresholds over 5 minutes (budget_refusals: requests refused for a key's budget; budgets_almost_spent: keys passing 80% of a budget; queue_age_seconds: the oldest message of a work or delivery queue, while any dead letter alarms). See docs/configuration.md."
  type = object({
    topic_arn = optional(string)
    thresholds = optional(object({
      api_5xx_percent            = optional(number, 5)
      function_errors            = optional(number, 1)
      function_throttles         = optional(number, 1)
      webhook_signature_failures = optional(number, 10)
      sweeper_timeouts           = optional(number, 1)
      bedrock_throttles          = optional(number, 5)
      budget_refusals            = optional(number, 1)
      budgets_almost_spent       = optional(number, 1)
      queue_age_seconds          = optional(number, 3600)
    }), {})
  })
  default = {}

  validation {
    condition     = var.alarms.topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarms.topic_arn))
    error_message = "alarms.topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>) or null."
  }

  validation {
    condition     = alltrue([for value in values(var.alarms.thresholds) : value > 0])
    error_message = "Every alarm threshold must be above 0."
  }
}

variable "queues" {
  description = "Jobs for every model (Prefer: respond-async) and webhooks to callers. quotas: the account's request quota per minute of each model that answers now, by catalog name (Service Quotas; AWS publishes no default for the image models): sizes the model's worker concurrency (quota / 6: a call takes about 10 s) and a throttled request's Retry-After. worker_concurrency: set a model's maximum concurrency outright (2-1000). delivery_concurrency: webhook deliveries at once. See docs/jobs.md."
  type = object({
    quotas               = optional(map(number), {})
    worker_concurrency   = optional(map(number), {})
    delivery_concurrency = optional(number, 5)
  })
  default = {}

  validation {
    condition     = alltrue([for value in values(var.queues.worker_concurrency) : value >= 2 && value <= 1000]) && var.queues.delivery_concurrency >= 2 && var.queues.delivery_concurrency <= 1000
    error_message = "queues.worker_concurrency values and queues.delivery_concurrency must be 2..1000 (an SQS event source mapping's maximum concurrency)."
  }
}
