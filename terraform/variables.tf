variable "region" {
  description = "AWS region to deploy to. Bedrock models run where their catalog row says (a stack here calls them there), so any region works."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like an AWS region, e.g. us-east-1."
  }
}

variable "name" {
  description = "Prefix of every name (functions, roles, layers, log groups, API, bucket): 3-24 lowercase letters, digits and hyphens, starting with a letter. Two deployments in one account need two names."
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

variable "artifacts_dir" {
  description = "Directory holding the Makefile's zips (functions/<name>.zip, layers/imagegen.zip, layers/vendor.zip, layers/analysis.zip); null: the repository's dist/. Run `make build` before plan."
  type        = string
  default     = null
}

variable "bucket_name" {
  description = "Name of the bucket; null: <name>-<account id>-<region>, unique per deployment without random suffixes."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null ? true : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket with its objects. Leave false outside throw-away environments."
  type        = bool
  default     = false
}

variable "versioning_enabled" {
  description = "Keep previous object versions for 7 days (recover from overwrites and deletes)."
  type        = bool
  default     = true
}

variable "image_expiry_days" {
  description = "Days after which generated images (images/) are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.image_expiry_days >= 1 && floor(var.image_expiry_days) == var.image_expiry_days
    error_message = "image_expiry_days must be a whole number of at least 1."
  }
}

variable "upload_expiry_days" {
  description = "Days after which source images handed to Replicate (uploads/) are deleted; they are needed only until the prediction has started."
  type        = number
  default     = 1

  validation {
    condition     = var.upload_expiry_days >= 1 && floor(var.upload_expiry_days) == var.upload_expiry_days
    error_message = "upload_expiry_days must be a whole number of at least 1."
  }
}

variable "job_expiry_days" {
  description = "Days after which job records (jobs/) are deleted; keep it at least image_expiry_days so a job outlives its images."
  type        = number
  default     = 30

  validation {
    condition     = var.job_expiry_days >= 1 && floor(var.job_expiry_days) == var.job_expiry_days
    error_message = "job_expiry_days must be a whole number of at least 1."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps function and access logs; one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

variable "architecture" {
  description = "Instruction set of every function and layer: x86_64 or arm64 (Graviton, about 20% cheaper per GB-second). Build the layers for it first: `make build ARCH=arm64` (the Makefile's ARCH must equal this)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "log_level" {
  description = "Python log level of the functions (LOG_LEVEL): DEBUG, INFO, WARNING, ERROR or CRITICAL."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "system_log_level" {
  description = "Lowest level of Lambda's own platform log records (START, END, REPORT...) in the JSON logs: DEBUG, INFO or WARN. The functions' own level is log_level."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARN"], var.system_log_level)
    error_message = "system_log_level must be DEBUG, INFO or WARN."
  }
}

variable "alarm_topic_arn" {
  description = "ARN of an SNS topic the CloudWatch alarms notify (API 5xx rate, function errors and throttles, webhook signature failures, sweeper timeouts, Bedrock throttling). null: no alarms; the dashboard is always created."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:[a-z-]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>) or null."
  }
}

variable "alarm_thresholds" {
  description = "Alarm thresholds over 5 minutes: api_5xx_percent (5), function_errors (1), function_throttles (1), webhook_signature_failures (10), sweeper_timeouts (1), bedrock_throttles (5)."
  type = object({
    api_5xx_percent            = optional(number, 5)
    function_errors            = optional(number, 1)
    function_throttles         = optional(number, 1)
    webhook_signature_failures = optional(number, 10)
    sweeper_timeouts           = optional(number, 1)
    bedrock_throttles          = optional(number, 5)
  })
  default = {}

  validation {
    condition     = alltrue([for value in values(var.alarm_thresholds) : value > 0])
    error_message = "Every alarm threshold must be above 0."
  }
}

variable "url_expiry_seconds" {
  description = "Lifetime of presigned image URLs (URL_EXPIRY_SECONDS), 60-604800. A URL also stops working when the function's role session that signed it expires."
  type        = number
  default     = 900

  validation {
    condition     = var.url_expiry_seconds >= 60 && var.url_expiry_seconds <= 604800 && floor(var.url_expiry_seconds) == var.url_expiry_seconds
    error_message = "url_expiry_seconds must be a whole number between 60 and 604800."
  }
}

variable "replicate_api_token_parameter_name" {
  description = "Name of the SSM SecureString parameter holding the Replicate API token (REPLICATE_API_TOKEN_PARAM). Created out of band, so the token never enters Terraform state."
  type        = string
  default     = "/imagegen/replicate/api-token"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.replicate_api_token_parameter_name))
    error_message = "replicate_api_token_parameter_name must be a hierarchical SSM parameter name such as /imagegen/replicate/api-token."
  }
}

variable "replicate_webhook_secret_parameter_name" {
  description = "Name of the SSM SecureString parameter holding Replicate's webhook signing secret, whsec_... (REPLICATE_WEBHOOK_SECRET_PARAM). Created out of band."
  type        = string
  default     = "/imagegen/replicate/webhook-secret"

  validation {
    condition     = can(regex("^/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.replicate_webhook_secret_parameter_name))
    error_message = "replicate_webhook_secret_parameter_name must be a hierarchical SSM parameter name such as /imagegen/replicate/webhook-secret."
  }
}

variable "replicate_base_url" {
  description = "Replicate API base URL (REPLICATE_BASE_URL)."
  type        = string
  default     = "https://api.replicate.com"

  validation {
    condition     = can(regex("^https?://[^/\\s]+(/\\S*)?$", var.replicate_base_url))
    error_message = "replicate_base_url must be an http(s) URL."
  }
}

variable "models" {
  description = "Catalog names of the models each function may use (GENERATE_MODELS, EDIT_MODELS), the first being its route's default; null: the catalog's defaults. Models, where they run and their prices: README.md (Models) and src/imagegen/catalog.json; Terraform derives the regions, IAM ARNs and Marketplace products from the rows. `sagemaker` names the endpoint of sagemaker_endpoint_name."
  type = object({
    generate = optional(list(string))
    edit     = optional(list(string))
  })
  default = {}

  validation {
    condition     = alltrue([for name in concat(coalesce(var.models.generate, []), coalesce(var.models.edit, [])) : can(regex("^[a-z0-9][a-z0-9.-]{0,63}$", name))])
    error_message = "models lists catalog names such as sd3.5-large or flux-schnell (lowercase letters, digits, . and -)."
  }
}

variable "bedrock_marketplace_subscribe" {
  description = "Let the generate and edit roles subscribe the account to an enabled Bedrock Marketplace model (Stability's) on its first invocation, as Bedrock does (aws-marketplace:Subscribe, limited to the enabled models' product ids where AWS lists them, plus Unsubscribe and ViewSubscriptions). false: an administrator subscribes once instead (README: First use)."
  type        = bool
  default     = true
}

variable "replicate_edit_inputs" {
  description = "Model inputs a client may set in an edit's `input` object, per model owner/name (REPLICATE_EDIT_INPUTS, as JSON), e.g. { \"acme/sketchify\" = [\"style\"] }. Every other input is a 400, so clients cannot turn off a safety checker, raise num_outputs or hand Replicate URLs to fetch. Default: none."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for model, inputs in var.replicate_edit_inputs : can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", model)) && alltrue([for name in inputs : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", name))])])
    error_message = "replicate_edit_inputs maps owner/name to a list of input names (letters, digits, underscores)."
  }
}

variable "model_aliases" {
  description = "More names a generation or edit request may use for a catalog model (MODEL_ALIASES, as JSON), e.g. { house-style = \"flux-schnell\" }: alias => catalog name. An alias only names a model, which must still be enabled in models. Default: none."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for alias, model in var.model_aliases : can(regex("^[A-Za-z0-9_.:/-]{1,100}$", alias)) && can(regex("^[A-Za-z0-9_.:/-]{1,200}$", model))])
    error_message = "model_aliases maps an alias to a model id, both non-empty and made of letters, digits and _ . : / -."
  }
}

variable "prefer_wait_max_seconds" {
  description = "Longest a request with `Prefer: wait[=N]` may hold its answer until its async (Replicate) jobs finish (PREFER_WAIT_MAX_SECONDS), 0-29, below API Gateway's 30 s limit. A waiting Lambda is billed for every second it waits, which is why waiting is opt-in per request with `Prefer: wait` and an async job is otherwise answered at once with 202; 0 turns waiting off."
  type        = number
  default     = 20

  validation {
    condition     = var.prefer_wait_max_seconds >= 0 && var.prefer_wait_max_seconds <= 29 && floor(var.prefer_wait_max_seconds) == var.prefer_wait_max_seconds
    error_message = "prefer_wait_max_seconds must be a whole number between 0 and 29."
  }
}

variable "public_base_url" {
  description = "Absolute base URL Replicate calls webhooks back on (PUBLIC_BASE_URL), e.g. a custom domain; empty: built from each request's domain and stage."
  type        = string
  default     = ""

  validation {
    condition     = var.public_base_url == "" || can(regex("^https://[^/\\s]+(/\\S*)?$", var.public_base_url))
    error_message = "public_base_url must be empty or an https:// URL."
  }
}

variable "replicate_output_hosts" {
  description = "Hosts the webhook may download outputs from (REPLICATE_OUTPUT_HOSTS, comma-joined); a \"*.\" prefix allows any subdomain."
  type        = list(string)
  default     = ["replicate.delivery", "*.replicate.delivery"]

  validation {
    condition     = length(var.replicate_output_hosts) > 0 && alltrue([for host in var.replicate_output_hosts : can(regex("^(\\*\\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", host))])
    error_message = "replicate_output_hosts must be a non-empty list of lowercase host names, each optionally prefixed with \"*.\"."
  }
}

variable "max_output_bytes" {
  description = "Largest output file the webhook stores, in bytes (MAX_OUTPUT_BYTES)."
  type        = number
  default     = 26214400

  validation {
    condition     = var.max_output_bytes >= 1024 && floor(var.max_output_bytes) == var.max_output_bytes
    error_message = "max_output_bytes must be a whole number of at least 1024."
  }
}

variable "sagemaker_endpoint_name" {
  description = "SageMaker endpoint the generate function may invoke (SAGEMAKER_ENDPOINT_NAME); empty turns the provider off and grants no SageMaker permission."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([A-Za-z0-9](-*[A-Za-z0-9]){0,62})?$", var.sagemaker_endpoint_name))
    error_message = "sagemaker_endpoint_name must be empty or a SageMaker endpoint name (1-63 letters, digits and hyphens)."
  }
}

variable "bedrock_read_timeout_seconds" {
  description = "botocore read timeout for Bedrock and SageMaker calls (BEDROCK_READ_TIMEOUT), 1-900; keep it below the generate and edit timeouts."
  type        = number
  default     = 25

  validation {
    condition     = var.bedrock_read_timeout_seconds >= 1 && var.bedrock_read_timeout_seconds <= 900
    error_message = "bedrock_read_timeout_seconds must be between 1 and 900."
  }
}

variable "function_settings" {
  description = "Per-function timeout (seconds, 1-900), memory_size (MB, 128-10240) and reserved_concurrency (null: unreserved). Defaults: generate 60 s / 512 MB and edit 60 s / 512 MB (above the 25 s Bedrock read timeout; an HTTP API gives up on an integration after 30 s, so a caller gets 503 for anything slower while the function still finishes), replicate_webhook 30 s / 512 MB, get_job 15 s / 256 MB, cancel_job 15 s / 256 MB, sweeper 300 s / 512 MB (it may store the outputs of several jobs), authorizer 5 s / 256 MB (one S3 read per uncached key), models 5 s / 128 MB (the catalog, no AWS call), analyze 30 s / 1024 MB (ONNX Runtime in the function: its import takes ~0.8 s and a MobileNet-size model loads in ~0.15 s on a cold start; a 1280x960 JPEG classifies in ~26 ms on 2 vCPUs at ~113 MB peak RSS; 1024 MB buys the vCPU share for 8 images per request well within 30 s, the HTTP API's own limit)."
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
  })
  default = {}

  validation {
    condition     = alltrue([for settings in values(var.function_settings) : settings.timeout >= 1 && settings.timeout <= 900 && floor(settings.timeout) == settings.timeout])
    error_message = "Each function_settings timeout must be a whole number of seconds between 1 and 900."
  }

  validation {
    condition     = alltrue([for settings in values(var.function_settings) : settings.memory_size >= 128 && settings.memory_size <= 10240 && floor(settings.memory_size) == settings.memory_size])
    error_message = "Each function_settings memory_size must be a whole number of MB between 128 and 10240."
  }

  validation {
    condition     = alltrue([for settings in values(var.function_settings) : settings.reserved_concurrency == null ? true : settings.reserved_concurrency >= 0])
    error_message = "Each function_settings reserved_concurrency must be null or at least 0."
  }
}

variable "sweeper" {
  description = "The job sweeper: every interval_minutes (1-1440) it looks at the jobs open longer than after_seconds (60-86400), asks Replicate where their prediction is and finishes them; a job still running after job_timeout_seconds (300-604800) is canceled and failed as timed out, and every prediction is created with that deadline (Cancel-After)."
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

variable "tracing_mode" {
  description = "X-Ray tracing of the functions: PassThrough or Active (Active attaches AWSXRayDaemonWriteAccess to each role)."
  type        = string
  default     = "PassThrough"

  validation {
    condition     = contains(["PassThrough", "Active"], var.tracing_mode)
    error_message = "tracing_mode must be PassThrough or Active."
  }
}

variable "cors_allowed_origins" {
  description = "Origins browsers may call the API from: [\"*\"] (the default, matching the handlers' own CORS headers) or https://host[:port] entries; empty turns the API's CORS handling off."
  type        = list(string)
  default     = ["*"]

  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : origin == "*" || can(regex("^https?://[^/\\s]+$", origin))])
    error_message = "Each cors_allowed_origins entry must be \"*\" or a scheme://host[:port] origin without a path."
  }
}

variable "throttling" {
  description = "Default route throttling of the API's $default stage: burst_limit (requests) and rate_limit (requests per second). Caps cost of the model calls."
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

variable "webhook_throttling" {
  description = "Route throttling of the Replicate webhook route alone, so a flood of client requests on the stage's default limits can never make API Gateway answer 429 to Replicate (which gives up after about a minute of retries and the result is lost)."
  type = object({
    burst_limit = optional(number, 100)
    rate_limit  = optional(number, 50)
  })
  default = {}

  validation {
    condition     = var.webhook_throttling.burst_limit >= 1 && var.webhook_throttling.rate_limit >= 1 && floor(var.webhook_throttling.burst_limit) == var.webhook_throttling.burst_limit
    error_message = "webhook_throttling.burst_limit must be a whole number of at least 1 and webhook_throttling.rate_limit at least 1."
  }
}

variable "auth" {
  description = "Authorization of the routes with \"auth\": true in functions/routes.json. type: API_KEY (the default: `Authorization: Bearer <key>`, checked by the authorizer function against the key records in the bucket's auth/api-keys/; mint keys with `make api-key`), AWS_IAM (SigV4; callers need execute-api:Invoke), JWT (needs issuer, an https:// URL, and audience) or NONE (open: development only). API_KEY is the default because the OpenAI SDKs and the tools built on them send `Authorization: Bearer <key>` and cannot sign SigV4; a deployment with no key minted lets nobody in, so it is closed by default. cache_seconds (API_KEY only, 0-3600, default 300): how long API Gateway caches an allowed key, so a revoked or expired key keeps working for up to that long (0: the authorizer runs on every request). The Replicate webhook route is always open; its handler verifies the signature."
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

variable "analysis_models" {
  description = "The ONNX models of the image analysis routes (ANALYSIS_MODELS, as JSON), one row per task: \"classification\" (POST /v1/images/classifications) and/or \"detection\" (POST /v1/images/detections). key: the model file in the bucket (models/....onnx); labels_key: a label file in the bucket (models/....txt, one label per line), or labels: the labels inline (exactly one of the two; the labels' order is the model's output order); input_size: [width, height] of the model input (whole numbers 1-4096); layout: NCHW (default) or NHWC; mean and std: per channel (R, G, B), applied to pixel/255 (defaults 0 and 1); resize: stretch (default) or letterbox (aspect kept, grey padding, as YOLO trains); output (detection only, required): yolo ([1, N, 4+C] or [1, 4+C, N], YOLOv5u/v8/v11 exports) or boxes_scores (SSD-style [1, N, 4] normalised boxes and [1, N, C] scores); softmax (classification only, default true: the model outputs logits). Upload the files yourself with `aws s3 cp model.onnx s3://<bucket_name>/<key>` (and the label file to its labels_key): the analyze role may read exactly these keys and no others, and models/ never expires. Each model is loaded once per cold start (a new file at the same key reaches warm functions only once they are recycled). Empty (the default): the two routes exist and answer 501 model_not_configured."
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
