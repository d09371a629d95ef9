# Per function: its layers, its environment (exactly docs/configuration.md) and its IAM statements.

locals {
  layers = {
    imagegen = "Shared imagegen package: HTTP events, responses, storage, jobs, providers, webhook verification"
    awssdk   = "The AWS SDK every function runs on, pinned: boto3, botocore and their dependencies"
    vendor   = "Third-party packages: replicate, httpx and their dependencies"
    analysis = "ONNX Runtime, numpy, Pillow for image analysis"
  }

  common_environment = {
    BUCKET_NAME       = module.bucket.name
    LOG_LEVEL         = var.logs.level
    METRICS_NAMESPACE = var.name
  }

  # Python's level names as Lambda's JSON log levels.
  lambda_log_levels = { DEBUG = "DEBUG", INFO = "INFO", WARNING = "WARN", ERROR = "ERROR", CRITICAL = "FATAL" }

  # ANALYSIS_MODELS without the fields left unset (null: the code's defaults), and the bucket keys
  # the analyze role may read: exactly each model file and label file, nothing else under models/.
  analysis_models     = { for task, row in var.analysis_models : task => { for key, value in row : key => value if value != null } }
  analysis_model_keys = sort(distinct(flatten([for row in values(var.analysis_models) : compact([row.key, row.labels_key])])))

  # Per function: layers, environment (exactly docs/configuration.md) and IAM statements. Keys = the functions of routes.json.
  functions = {
    generate = {
      description = "Text-to-image: Bedrock or SageMaker synchronously, Replicate with a webhook"
      layers      = ["imagegen", "awssdk", "vendor"]
      environment = {
        URL_EXPIRY_SECONDS        = tostring(var.api.url_expiry_seconds)
        REPLICATE_API_TOKEN_PARAM = var.replicate.api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate.base_url
        PUBLIC_BASE_URL           = var.api.public_base_url
        GENERATE_MODELS           = join(",", local.models.generate)
        JOB_TIMEOUT_SECONDS       = tostring(var.sweeper.job_timeout_seconds)
        SAGEMAKER_ENDPOINT_NAME   = var.sagemaker.endpoint_name
        BEDROCK_READ_TIMEOUT      = tostring(var.bedrock.read_timeout_seconds)
        MODEL_ALIASES             = jsonencode(var.models.aliases)
        PREFER_WAIT_MAX_SECONDS   = tostring(var.api.prefer_wait_max_seconds)
        DEFAULT_RESPONSE_FORMAT   = var.api.default_response_format
        MAX_MODEL_CALLS           = tostring(var.api.max_model_calls)
        WORK_QUEUES               = jsonencode(local.work_queue_urls)
        MODEL_QUOTAS              = jsonencode(var.queues.quotas)
        DELIVERY_QUEUE_URL        = aws_sqs_queue.deliveries.url
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
          local.statements.record_usage,
          local.statements.key_budgets,
          local.statements.key_rates,
          local.statements.send_deliveries,
        ],
        local.queue_job_statements.generate,
        local.invoke_statements.generate,
      )
    }

    edit = {
      description = "Edits and variations: Bedrock synchronously, Replicate with a webhook (one prediction per image)"
      layers      = ["imagegen", "awssdk", "vendor"]
      environment = {
        URL_EXPIRY_SECONDS        = tostring(var.api.url_expiry_seconds)
        REPLICATE_API_TOKEN_PARAM = var.replicate.api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate.base_url
        EDIT_MODELS               = join(",", local.models.edit)
        JOB_TIMEOUT_SECONDS       = tostring(var.sweeper.job_timeout_seconds)
        REPLICATE_EDIT_INPUTS     = jsonencode(var.replicate.edit_inputs)
        PUBLIC_BASE_URL           = var.api.public_base_url
        BEDROCK_READ_TIMEOUT      = tostring(var.bedrock.read_timeout_seconds)
        MODEL_ALIASES             = jsonencode(var.models.aliases)
        PREFER_WAIT_MAX_SECONDS   = tostring(var.api.prefer_wait_max_seconds)
        DEFAULT_RESPONSE_FORMAT   = var.api.default_response_format
        MAX_MODEL_CALLS           = tostring(var.api.max_model_calls)
        WORK_QUEUES               = jsonencode(local.work_queue_urls)
        MODEL_QUOTAS              = jsonencode(var.queues.quotas)
        DELIVERY_QUEUE_URL        = aws_sqs_queue.deliveries.url
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
          local.statements.record_usage,
          local.statements.key_budgets,
          local.statements.key_rates,
          local.statements.send_deliveries,
        ],
        local.queue_job_statements.edit,
        local.invoke_statements.edit,
      )
    }

    replicate_webhook = {
      description = "Replicate webhook: verifies the signature, stores the outputs, marks the job done"
      layers      = ["imagegen", "awssdk", "vendor"] # vendor: Pillow, to encode again at output_compression
      environment = {
        REPLICATE_WEBHOOK_SECRET_PARAM = var.replicate.webhook_secret_parameter_name
        REPLICATE_OUTPUT_HOSTS         = join(",", var.replicate.output_hosts)
        MAX_OUTPUT_BYTES               = tostring(var.replicate.max_output_bytes)
        DELIVERY_QUEUE_URL             = aws_sqs_queue.deliveries.url
      }
      statements = [
        local.statements.read_write_jobs,
        local.statements.write_images,
        local.statements.send_deliveries,
        {
          sid        = "ReadWebhookSecret"
          actions    = ["ssm:GetParameter"]
          resources  = [local.webhook_secret_parameter_arn]
          conditions = []
        },
        local.statements.close_open_jobs,
        local.statements.record_usage,
        local.statements.key_budgets,
      ]
    }

    cancel_job = {
      description = "Cancels a job's Replicate prediction and marks the job canceled"
      layers      = ["imagegen", "awssdk", "vendor"]
      environment = {
        URL_EXPIRY_SECONDS        = tostring(var.api.url_expiry_seconds)
        REPLICATE_API_TOKEN_PARAM = var.replicate.api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate.base_url
        DELIVERY_QUEUE_URL        = aws_sqs_queue.deliveries.url
      }
      statements = [
        local.statements.read_write_jobs,
        local.statements.read_replicate_token,
        local.statements.close_open_jobs,
        local.statements.key_budgets,
        local.statements.send_deliveries,
      ]
    }

    sweeper = {
      description = "Scheduled: finishes or times out jobs whose webhook never came (asks Replicate)"
      layers      = ["imagegen", "awssdk", "vendor"]
      lists       = ["open/", "limits/"] # the prefixes it lists, exactly: open jobs, the keys' budget states
      environment = {
        REPLICATE_API_TOKEN_PARAM = var.replicate.api_token_parameter_name
        REPLICATE_BASE_URL        = var.replicate.base_url
        REPLICATE_OUTPUT_HOSTS    = join(",", var.replicate.output_hosts)
        MAX_OUTPUT_BYTES          = tostring(var.replicate.max_output_bytes)
        SWEEPER_AFTER_SECONDS     = tostring(var.sweeper.after_seconds)
        JOB_TIMEOUT_SECONDS       = tostring(var.sweeper.job_timeout_seconds)
        DELIVERY_QUEUE_URL        = aws_sqs_queue.deliveries.url
      }
      statements = [
        local.statements.read_write_jobs,
        local.statements.write_images,
        local.statements.read_replicate_token,
        local.statements.close_open_jobs,
        local.statements.record_usage,
        local.statements.key_budgets,
        local.statements.send_deliveries,
      ]
    }

    worker = {
      description = "Runs queued jobs (Prefer: respond-async) of the models that answer now, at each model's quota"
      layers      = ["imagegen", "awssdk", "vendor"] # vendor: Pillow, to encode again at output_compression
      environment = {
        JOB_TIMEOUT_SECONDS     = tostring(var.sweeper.job_timeout_seconds)
        SAGEMAKER_ENDPOINT_NAME = var.sagemaker.endpoint_name
        BEDROCK_READ_TIMEOUT    = tostring(var.bedrock.read_timeout_seconds)
        MODEL_QUOTAS            = jsonencode(var.queues.quotas)
        DELIVERY_QUEUE_URL      = aws_sqs_queue.deliveries.url
      }
      statements = concat(
        [
          local.statements.read_write_jobs,
          local.statements.write_images,
          { sid = "ReadQueuedSources", actions = ["s3:GetObject"], resources = [local.objects.uploads], conditions = [] },
          local.statements.close_open_jobs,
          local.statements.record_usage,
          local.statements.key_budgets,
          local.statements.send_deliveries,
          {
            sid        = "ReadWorkQueues" # the event source mapping receives with the function's role
            actions    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
            resources  = length(aws_sqs_queue.work) == 0 ? [aws_sqs_queue.work_dead_letter.arn] : [for queue in aws_sqs_queue.work : queue.arn]
            conditions = []
          },
        ],
        local.invoke_statements.worker,
      )
    }

    deliver = {
      description = "POSTs each ended job's signed event (Standard Webhooks) to the caller's webhook, with retries"
      layers      = ["imagegen", "awssdk"]
      environment = {
        URL_EXPIRY_SECONDS       = tostring(var.api.url_expiry_seconds)
        DELIVERY_QUEUE_URL       = aws_sqs_queue.deliveries.url
        DELIVERY_DEAD_LETTER_URL = aws_sqs_queue.deliveries_dead_letter.url
      }
      statements = [
        local.statements.read_write_jobs,
        local.statements.webhook_secrets,
        # its events carry presigned URLs of the job's images: signed with this role, so it may read them
        { sid = "PresignImages", actions = ["s3:GetObject"], resources = [local.objects.images], conditions = [] },
        {
          sid        = "SendDeliveries"
          actions    = ["sqs:SendMessage"]
          resources  = [aws_sqs_queue.deliveries.arn, aws_sqs_queue.deliveries_dead_letter.arn]
          conditions = []
        },
        {
          sid        = "ReadDeliveries" # the event source mapping receives with the function's role
          actions    = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
          resources  = [aws_sqs_queue.deliveries.arn]
          conditions = []
        },
      ]
    }

    webhook_secret = {
      description = "GET /v1/webhooks/default/secret: the caller's key's webhook signing secret"
      layers      = ["imagegen", "awssdk"]
      environment = {}
      statements  = [local.statements.webhook_secrets]
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
        SAGEMAKER_ENDPOINT_NAME = var.sagemaker.endpoint_name
        MODEL_ALIASES           = jsonencode(var.models.aliases)
      }
      statements = [] # the catalog ships in the layer: no AWS call
    }

    get_job = {
      description = "Job status, with presigned URLs once the job has images"
      layers      = ["imagegen", "awssdk"]
      environment = {
        URL_EXPIRY_SECONDS = tostring(var.api.url_expiry_seconds)
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

    usage = {
      description = "GET /v1/usage: the caller's own API key's jobs, images and cost per day (the usage ledger)"
      layers      = ["imagegen", "awssdk"]
      lists       = ["usage/*"] # usage/{key id}/: the code lists only the caller's own
      environment = {}
      statements = [
        { sid = "ReadKeyBudgets", actions = ["s3:GetObject"], resources = [local.objects.limits], conditions = [] },
      ]
    }

    web = {
      description = "The public face: the playground page (GET /, /playground) and the OpenAPI contract (GET /openapi.json)"
      layers      = ["imagegen"]
      environment = {}
      statements  = [] # the page and the contract ship in the layer: no AWS call
    }
  }
}
