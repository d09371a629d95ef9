# The root module: the provider, the pieces every file shares, and the module calls.
# functions.tf: each function (layers, environment, IAM statements); iam.tf: the statements several
# functions share and the bucket statements; models.tf: the models (from the catalog) and what they
# need; keys.tf: what a new API key carries; checks.tf: what is refused at plan; schedule.tf: the
# sweeper's schedule.

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  # One route table for Terraform and the local HTTP API server: "METHOD /path" => {function, auth}.
  routes          = jsondecode(file("${path.module}/../functions/routes.json"))
  route_functions = toset([for route in values(local.routes) : route.function])
  # Functions behind no route: the sweeper runs on a schedule, the authorizer is API Gateway's
  # Lambda authorizer of the API_KEY auth (deployed whatever auth.type is, so keys can be minted first).
  scheduled_functions  = toset(["sweeper"])
  authorizer_functions = toset(["authorizer"])
  queue_functions      = toset(["worker", "deliver"]) # queues.tf: SQS event source mappings
  artifacts_dir        = coalesce(var.artifacts_dir, "${path.module}/../dist")

  account_id = data.aws_caller_identity.current.account_id
  region     = var.region
  partition  = data.aws_partition.current.partition

  bucket_name = coalesce(var.bucket.name, "${var.name}-${local.account_id}-${local.region}")

  webhook_path = one([for key, route in local.routes : split(" ", key)[1] if route.function == "replicate_webhook"])
}

module "bucket" {
  source = "./modules/bucket"

  bucket             = local.bucket_name
  force_destroy      = var.bucket.force_destroy
  versioning_enabled = var.bucket.versioning
  expiration_days = {
    "images/"  = var.bucket.expiry_days.images
    "uploads/" = var.bucket.expiry_days.uploads
    "jobs/"    = var.bucket.expiry_days.jobs
    "usage/"   = var.bucket.expiry_days.usage
    # a key's budget state: a month's object is needed while its month runs; request counts for a minute
    "limits/"    = 400
    "ratelimit/" = 1
  }
}

module "layers" {
  source   = "./modules/layer"
  for_each = local.layers

  layer_name               = "${var.name}-${each.key}"
  description              = each.value
  filename                 = "${local.artifacts_dir}/layers/${each.key}.zip"
  compatible_architectures = [var.architecture]
}

module "functions" {
  source   = "./modules/function"
  for_each = local.functions

  function_name                  = "${var.name}-${replace(each.key, "_", "-")}"
  description                    = each.value.description
  filename                       = "${local.artifacts_dir}/functions/${each.key}.zip"
  layers                         = [for layer in each.value.layers : module.layers[layer].arn]
  architecture                   = var.architecture
  environment                    = merge(local.common_environment, each.value.environment)
  policy_statements              = concat(local.bucket_statements[each.key], each.value.statements)
  timeout                        = var.functions[each.key].timeout
  memory_size                    = var.functions[each.key].memory_size
  reserved_concurrent_executions = var.functions[each.key].reserved_concurrency
  tracing_mode                   = var.logs.tracing_mode
  log_retention_days             = var.logs.retention_days
  application_log_level          = local.lambda_log_levels[var.logs.level]
  system_log_level               = var.logs.system_level
}

module "http_api" {
  source = "./modules/http_api"

  name                 = var.name
  description          = "imagegen: image generation API (${var.name})"
  routes               = { for key, route in local.routes : key => { function = route.function, authorized = route.auth } }
  functions            = { for key, function in module.functions : key => { function_name = function.function_name, invoke_arn = function.invoke_arn } if contains(local.route_functions, key) }
  authorization        = var.auth
  authorizer_function  = var.auth.type == "API_KEY" ? { function_name = module.functions["authorizer"].function_name, invoke_arn = module.functions["authorizer"].invoke_arn } : null
  cors_allowed_origins = var.api.cors_allowed_origins
  throttling           = var.api.throttling
  route_throttling     = { for key, route in local.routes : key => var.api.webhook_throttling if route.function == "replicate_webhook" }
  log_retention_days   = var.logs.retention_days
}

module "monitoring" {
  source = "./modules/monitoring"

  name              = var.name
  region            = var.region
  metrics_namespace = local.common_environment.METRICS_NAMESPACE
  function_names    = { for key, function in module.functions : key => function.function_name }
  api_id            = module.http_api.api_id
  alarm_topic_arn   = var.alarms.topic_arn
  thresholds        = var.alarms.thresholds
  queues = merge(
    { for name, queue in aws_sqs_queue.work : "work-${replace(name, ".", "-")}" => { name = queue.name, dead_letter = false } },
    {
      work-dead-letter    = { name = aws_sqs_queue.work_dead_letter.name, dead_letter = true }
      deliveries          = { name = aws_sqs_queue.deliveries.name, dead_letter = false }
      webhook-dead-letter = { name = aws_sqs_queue.deliveries_dead_letter.name, dead_letter = true }
    },
  )
}
