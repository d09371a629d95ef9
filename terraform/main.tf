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
  artifacts_dir        = coalesce(var.artifacts_dir, "${path.module}/../dist")

  account_id = data.aws_caller_identity.current.account_id
  region     = var.region
  partition  = data.aws_partition.current.partition

  bucket_name = coalesce(var.bucket_name, "${var.name}-${local.account_id}-${local.region}")

  ssm_parameter_arn_prefix          = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter"
  replicate_api_token_parameter_arn = "${local.ssm_parameter_arn_prefix}/${trimprefix(var.replicate_api_token_parameter_name, "/")}"
  webhook_secret_parameter_arn      = "${local.ssm_parameter_arn_prefix}/${trimprefix(var.replicate_webhook_secret_parameter_name, "/")}"
  # The model catalog (one row per model: provider, id, where it runs, tasks, limits, price) and the
  # models each function enables, by catalog name (the catalog's defaults unless var.models names them).
  catalog = jsondecode(file("${path.module}/../src/imagegen/catalog.json"))
  models = {
    generate = coalesce(var.models.generate, local.catalog.defaults.generate)
    edit     = coalesce(var.models.edit, local.catalog.defaults.edit)
  }
  unknown_models = sort(distinct([for name in flatten(values(local.models)) : name if !contains(keys(local.catalog.models), name)]))
  retired_models = sort(distinct([for name in flatten(values(local.models)) : name if try(local.catalog.models[name].lifecycle, "active") != "active"]))
  # The Bedrock rows each function may invoke, by catalog name.
  bedrock_models = {
    for function, names in local.models : function => {
      for name in names : name => local.catalog.models[name] if try(local.catalog.models[name].provider, "") == "bedrock"
    }
  }
  # A row runs in its own region, whatever the stack's. An on-demand model is invoked by its
  # foundation-model ARN there; a model offered only through a cross-region inference profile is
  # invoked by the profile's ARN in that region and served by the foundation model in each region
  # the profile routes to, so the role needs all of them (AWS: "Prerequisites for inference profiles").
  bedrock_model_arns = {
    for function, rows in local.bedrock_models : function => distinct(flatten([
      for row in values(rows) : try(row.profile, null) == null ? ["arn:${local.partition}:bedrock:${row.region}::foundation-model/${row.id}"] : concat(
        ["arn:${local.partition}:bedrock:${row.region}:${local.account_id}:inference-profile/${row.profile}.${row.id}"],
        [for region in row.routes_to : "arn:${local.partition}:bedrock:${region}::foundation-model/${row.id}"],
      )
    ]))
  }
  # First use of a Marketplace model subscribes the account (Bedrock user guide, "Access Amazon Bedrock
  # foundation models"): Subscribe limited to the rows' product ids, unless a row's id is unknown.
  marketplace_products = {
    for function, rows in local.bedrock_models : function => [for row in values(rows) : try(row.marketplace_product_id, null)]
  }
  marketplace_statements = {
    for function, products in local.marketplace_products : function => !var.bedrock_marketplace_subscribe || length(products) == 0 ? [] : [
      {
        sid       = "SubscribeToBedrockMarketplaceModels"
        actions   = ["aws-marketplace:Subscribe"]
        resources = ["*"]
        conditions = anytrue([for product in products : product == null]) ? [] : [{
          test     = "ForAnyValue:StringEquals"
          variable = "aws-marketplace:ProductId"
          values   = distinct(products)
        }]
      },
      {
        sid        = "SeeAndEndBedrockMarketplaceSubscriptions"
        actions    = ["aws-marketplace:Unsubscribe", "aws-marketplace:ViewSubscriptions"]
        resources  = ["*"]
        conditions = []
      },
    ]
  }
  sagemaker_endpoint_arn = "arn:${local.partition}:sagemaker:${local.region}:${local.account_id}:endpoint/${lower(var.sagemaker_endpoint_name)}"

  objects = { for prefix in ["images", "uploads", "jobs", "open", "auth/api-keys"] : prefix => "${module.bucket.arn}/${prefix}/*" }

  # IAM statements several functions need, written once.
  statements = {
    read_replicate_token = { sid = "ReadReplicateApiToken", actions = ["ssm:GetParameter"], resources = [local.replicate_api_token_parameter_arn], conditions = [] }
    read_write_jobs      = { sid = "ReadWriteJobs", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.objects.jobs], conditions = [] }
    write_images         = { sid = "WriteImages", actions = ["s3:PutObject"], resources = [local.objects.images], conditions = [] }
    # Every function that ends a job removes its open/ marker; the ones that create Replicate jobs write it.
    close_open_jobs = { sid = "CloseOpenJobs", actions = ["s3:DeleteObject"], resources = [local.objects.open], conditions = [] }
    open_jobs       = { sid = "OpenJobs", actions = ["s3:PutObject", "s3:DeleteObject"], resources = [local.objects.open], conditions = [] }
  }

  # ANALYSIS_MODELS without the fields left unset (null: the code's defaults), and the bucket keys
  # the analyze role may read: exactly each model file and label file, nothing else under models/.
  analysis_models     = { for task, row in var.analysis_models : task => { for key, value in row : key => value if value != null } }
  analysis_model_keys = sort(distinct(flatten([for row in values(var.analysis_models) : compact([row.key, row.labels_key])])))

  layers = {
    imagegen = "Shared imagegen package: HTTP events, responses, storage, jobs, providers, webhook verification"
    awssdk   = "The AWS SDK every function runs on, pinned: boto3, botocore and their dependencies"
    vendor   = "Third-party packages: replicate, httpx and their dependencies"
    analysis = "ONNX Runtime, numpy, Pillow for image analysis"
  }

  common_environment = {
    BUCKET_NAME       = module.bucket.name
    LOG_LEVEL         = var.log_level
    METRICS_NAMESPACE = var.name
  }

  # Python's level names as Lambda's JSON log levels.
  lambda_log_levels = { DEBUG = "DEBUG", INFO = "INFO", WARNING = "WARN", ERROR = "ERROR", CRITICAL = "FATAL" }

  # Per function, from its own statements: s3:ListBucket for the prefixes (or exact keys) it reads,
  # so a missing key is a 404, not a 403 (S3's implicit check for that carries the key as s3:prefix);
  # a listing must name one of them (StringLike, not IfExists: a listing without a prefix has no
  # s3:prefix and is refused, so no role can enumerate the bucket); and the bucket's KMS key through
  # S3: Decrypt to read, GenerateDataKey only for a
  # function that writes. None at all for a function with no S3 action (analyze without models);
  # decided on the actions, which are known at plan, so the statement count is too.
  bucket_statements = {
    for name, function in local.functions : name => !anytrue([for statement in function.statements : anytrue([for action in statement.actions : startswith(action, "s3:")])]) ? [] : concat(
      [{
        sid       = "ListOwnPrefixes"
        actions   = ["s3:ListBucket"]
        resources = [module.bucket.arn]
        conditions = [{
          test     = "StringLike"
          variable = "s3:prefix"
          values = distinct(concat(
            [for arn in flatten([for statement in function.statements : statement.resources if contains(statement.actions, "s3:GetObject")]) : trimprefix(arn, "${module.bucket.arn}/") if startswith(arn, "${module.bucket.arn}/")],
            try(function.lists, []),
          ))
        }]
      }],
      [{
        sid       = "UseBucketKeyThroughS3"
        actions   = anytrue([for statement in function.statements : contains(statement.actions, "s3:PutObject")]) ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"]
        resources = [module.bucket.kms_key_arn]
        conditions = [{
          test     = "StringEquals"
          variable = "kms:ViaService"
          values   = ["s3.${local.region}.amazonaws.com"]
        }]
      }],
    )
  }

  # Per function: layers, environment (exactly docs/configuration.md) and IAM statements. Keys = the functions of routes.json.
  functions = {
    generate = {
      description = "Text-to-image: Bedrock or SageMaker synchronously, Replicate with a webhook"
      layers      = ["imagegen", "awssdk", "vendor"]
      environment = {
        URL_EXPIRY_SECONDS        = tostring(var.url_expiry_seconds)
        REPLICATE_API_TOKEN_PARAM = var.replicate_api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate_base_url
        PUBLIC_BASE_URL           = var.public_base_url
        GENERATE_MODELS           = join(",", local.models.generate)
        JOB_TIMEOUT_SECONDS       = tostring(var.sweeper.job_timeout_seconds)
        SAGEMAKER_ENDPOINT_NAME   = var.sagemaker_endpoint_name
        BEDROCK_READ_TIMEOUT      = tostring(var.bedrock_read_timeout_seconds)
        MODEL_ALIASES             = jsonencode(var.model_aliases)
        PREFER_WAIT_MAX_SECONDS   = tostring(var.prefer_wait_max_seconds)
      }
      statements = concat(
        [
          {
            sid        = "ReadWriteImagesAndJobs"
            actions    = ["s3:GetObject", "s3:PutObject"]
            resources  = [local.objects.images, local.objects.jobs]
            conditions = []
          },
          local.statements.read_replicate_token,
          local.statements.open_jobs,
        ],
        length(local.bedrock_model_arns.generate) == 0 ? [] : [
          {
            sid        = "InvokeBedrockModels"
            actions    = ["bedrock:InvokeModel"]
            resources  = local.bedrock_model_arns.generate
            conditions = []
          },
        ],
        local.marketplace_statements.generate,
        var.sagemaker_endpoint_name == "" ? [] : [
          {
            sid        = "InvokeSageMakerEndpoint"
            actions    = ["sagemaker:InvokeEndpoint"]
            resources  = [local.sagemaker_endpoint_arn]
            conditions = []
          },
        ],
      )
    }

    edit = {
      description = "Edits and variations: Bedrock synchronously, Replicate with a webhook (one prediction per image)"
      layers      = ["imagegen", "awssdk", "vendor"]
      environment = {
        URL_EXPIRY_SECONDS        = tostring(var.url_expiry_seconds)
        REPLICATE_API_TOKEN_PARAM = var.replicate_api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate_base_url
        EDIT_MODELS               = join(",", local.models.edit)
        JOB_TIMEOUT_SECONDS       = tostring(var.sweeper.job_timeout_seconds)
        REPLICATE_EDIT_INPUTS     = jsonencode(var.replicate_edit_inputs)
        PUBLIC_BASE_URL           = var.public_base_url
        BEDROCK_READ_TIMEOUT      = tostring(var.bedrock_read_timeout_seconds)
        MODEL_ALIASES             = jsonencode(var.model_aliases)
        PREFER_WAIT_MAX_SECONDS   = tostring(var.prefer_wait_max_seconds)
      }
      statements = concat(
        [
          {
            # uploads/ for Replicate's sources; images/ for Bedrock's results, read back for b64_json
            sid        = "ReadWriteUploadsImagesAndJobs"
            actions    = ["s3:GetObject", "s3:PutObject"]
            resources  = [local.objects.uploads, local.objects.images, local.objects.jobs]
            conditions = []
          },
          local.statements.read_replicate_token,
          local.statements.open_jobs,
        ],
        length(local.bedrock_model_arns.edit) == 0 ? [] : [
          {
            sid        = "InvokeBedrockModels"
            actions    = ["bedrock:InvokeModel"]
            resources  = local.bedrock_model_arns.edit
            conditions = []
          },
        ],
        local.marketplace_statements.edit,
      )
    }

    replicate_webhook = {
      description = "Replicate webhook: verifies the signature, stores the outputs, marks the job done"
      layers      = ["imagegen", "awssdk"]
      environment = {
        REPLICATE_WEBHOOK_SECRET_PARAM = var.replicate_webhook_secret_parameter_name
        REPLICATE_OUTPUT_HOSTS         = join(",", var.replicate_output_hosts)
        MAX_OUTPUT_BYTES               = tostring(var.max_output_bytes)
      }
      statements = [
        local.statements.read_write_jobs,
        local.statements.write_images,
        {
          sid        = "ReadWebhookSecret"
          actions    = ["ssm:GetParameter"]
          resources  = [local.webhook_secret_parameter_arn]
          conditions = []
        },
        local.statements.close_open_jobs,
      ]
    }

    cancel_job = {
      description = "Cancels a job's Replicate prediction and marks the job canceled"
      layers      = ["imagegen", "awssdk", "vendor"]
      environment = {
        URL_EXPIRY_SECONDS        = tostring(var.url_expiry_seconds)
        REPLICATE_API_TOKEN_PARAM = var.replicate_api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate_base_url
      }
      statements = [
        local.statements.read_write_jobs,
        local.statements.read_replicate_token,
        local.statements.close_open_jobs,
      ]
    }

    sweeper = {
      description = "Scheduled: finishes or times out jobs whose webhook never came (asks Replicate)"
      layers      = ["imagegen", "awssdk", "vendor"]
      lists       = ["open/"] # the prefix it lists, exactly
      environment = {
        REPLICATE_API_TOKEN_PARAM = var.replicate_api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate_base_url
        REPLICATE_OUTPUT_HOSTS    = join(",", var.replicate_output_hosts)
        MAX_OUTPUT_BYTES          = tostring(var.max_output_bytes)
        SWEEPER_AFTER_SECONDS     = tostring(var.sweeper.after_seconds)
        JOB_TIMEOUT_SECONDS       = tostring(var.sweeper.job_timeout_seconds)
      }
      statements = [
        local.statements.read_write_jobs,
        local.statements.write_images,
        local.statements.read_replicate_token,
        local.statements.close_open_jobs,
      ]
    }

    analyze = {
      description = "Image classification and object detection with ONNX Runtime in the function; models read from the bucket once per cold start"
      # vendor: the multipart parser (imagegen.forms) and Pillow; analysis: onnxruntime, numpy (imagegen.vision)
      layers = ["imagegen", "awssdk", "vendor", "analysis"]
      environment = {
        ANALYSIS_MODELS = jsonencode(local.analysis_models)
      }
      # Exactly the configured model and label files; no statement at all without models.
      statements = length(local.analysis_model_keys) == 0 ? [] : [
        {
          sid        = "ReadAnalysisModels"
          actions    = ["s3:GetObject"]
          resources  = [for key in local.analysis_model_keys : "${module.bucket.arn}/${key}"]
          conditions = []
        },
      ]
    }

    authorizer = {
      description = "API Gateway Lambda authorizer of the API_KEY auth: checks Authorization: Bearer <key> against the key records"
      layers      = ["imagegen", "awssdk"]
      environment = {}
      statements = [
        {
          sid        = "ReadApiKeyRecords"
          actions    = ["s3:GetObject"]
          resources  = [local.objects["auth/api-keys"]]
          conditions = []
        },
      ]
    }

    models = {
      description = "GET /v1/models: the deployment's models in OpenAI's list format, from the model catalog"
      layers      = ["imagegen"]
      environment = {
        GENERATE_MODELS         = join(",", local.models.generate)
        EDIT_MODELS             = join(",", local.models.edit)
        SAGEMAKER_ENDPOINT_NAME = var.sagemaker_endpoint_name
        MODEL_ALIASES           = jsonencode(var.model_aliases)
      }
      statements = [] # the catalog ships in the layer: no AWS call
    }

    get_job = {
      description = "Job status, with presigned URLs once the job has images"
      layers      = ["imagegen", "awssdk"]
      environment = {
        URL_EXPIRY_SECONDS = tostring(var.url_expiry_seconds)
      }
      statements = [
        {
          sid        = "ReadJobsAndImages"
          actions    = ["s3:GetObject"]
          resources  = [local.objects.jobs, local.objects.images]
          conditions = []
        },
      ]
    }
  }

  webhook_path = one([for key, route in local.routes : split(" ", key)[1] if route.function == "replicate_webhook"])
}

# Every model named is a catalog row that is still offered: refused at plan, before anything is made.
resource "terraform_data" "models_in_catalog" {
  input = local.models

  lifecycle {
    precondition {
      condition     = length(local.unknown_models) == 0
      error_message = "These models are not in the model catalog (src/imagegen/catalog.json): ${join(", ", local.unknown_models)}. Use a catalog name (README.md, Models), or add a row for the model."
    }
    precondition {
      condition     = length(local.retired_models) == 0
      error_message = "These models reached end of life: ${join(", ", local.retired_models)}. Remove them from models."
    }
    precondition {
      condition     = !contains(local.models.generate, "sagemaker") || var.sagemaker_endpoint_name != ""
      error_message = "models.generate names sagemaker but sagemaker_endpoint_name is empty."
    }
    precondition {
      condition     = length(local.models.generate) > 0 || var.sagemaker_endpoint_name != ""
      error_message = "models.generate is empty and no sagemaker_endpoint_name is set: generations would have no model."
    }
  }
}

check "sync_timeouts" {
  assert {
    condition     = var.function_settings.generate.timeout > var.bedrock_read_timeout_seconds
    error_message = "The generate timeout must exceed bedrock_read_timeout_seconds, or a slow model call is cut off without an error response."
  }

  assert {
    condition     = length(local.bedrock_models.edit) == 0 || var.function_settings.edit.timeout > var.bedrock_read_timeout_seconds
    error_message = "The edit timeout must exceed bedrock_read_timeout_seconds, or a slow Bedrock edit is cut off without an error response."
  }
}

check "route_functions_configured" {
  assert {
    condition     = setunion(local.route_functions, local.scheduled_functions, local.authorizer_functions) == toset(keys(local.functions))
    error_message = "local.functions must be the functions of functions/routes.json plus the scheduled ones and the authorizer."
  }
}

# The sweeper runs on a schedule, not behind a route.
resource "aws_cloudwatch_event_rule" "sweeper" {
  name                = "${var.name}-sweeper"
  description         = "Runs the imagegen sweeper: finishes or times out jobs whose webhook never came"
  schedule_expression = "rate(${var.sweeper.interval_minutes} ${var.sweeper.interval_minutes == 1 ? "minute" : "minutes"})"
}

resource "aws_cloudwatch_event_target" "sweeper" {
  rule = aws_cloudwatch_event_rule.sweeper.name
  arn  = module.functions["sweeper"].arn
}

resource "aws_lambda_permission" "sweeper" {
  statement_id  = "AllowInvokeFromSweeperSchedule"
  action        = "lambda:InvokeFunction"
  function_name = module.functions["sweeper"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.sweeper.arn
}

module "bucket" {
  source = "./modules/bucket"

  bucket             = local.bucket_name
  force_destroy      = var.force_destroy
  versioning_enabled = var.versioning_enabled
  expiration_days = {
    "images/"  = var.image_expiry_days
    "uploads/" = var.upload_expiry_days
    "jobs/"    = var.job_expiry_days
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
  timeout                        = var.function_settings[each.key].timeout
  memory_size                    = var.function_settings[each.key].memory_size
  reserved_concurrent_executions = var.function_settings[each.key].reserved_concurrency
  tracing_mode                   = var.tracing_mode
  log_retention_days             = var.log_retention_days
  application_log_level          = local.lambda_log_levels[var.log_level]
  system_log_level               = var.system_log_level
}

module "http_api" {
  source = "./modules/http_api"

  name                 = var.name
  description          = "imagegen: image generation API (${var.name})"
  routes               = { for key, route in local.routes : key => { function = route.function, authorized = route.auth } }
  functions            = { for key, function in module.functions : key => { function_name = function.function_name, invoke_arn = function.invoke_arn } if contains(local.route_functions, key) }
  authorization        = var.auth
  authorizer_function  = var.auth.type == "API_KEY" ? { function_name = module.functions["authorizer"].function_name, invoke_arn = module.functions["authorizer"].invoke_arn } : null
  cors_allowed_origins = var.cors_allowed_origins
  throttling           = var.throttling
  route_throttling     = { for key, route in local.routes : key => var.webhook_throttling if route.function == "replicate_webhook" }
  log_retention_days   = var.log_retention_days
}

module "monitoring" {
  source = "./modules/monitoring"

  name              = var.name
  region            = var.region
  metrics_namespace = local.common_environment.METRICS_NAMESPACE
  function_names    = { for key, function in module.functions : key => function.function_name }
  api_id            = module.http_api.api_id
  alarm_topic_arn   = var.alarm_topic_arn
  thresholds        = var.alarm_thresholds
}
