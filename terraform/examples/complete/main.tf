# Every optional feature on: JWT auth, X-Ray tracing, reserved concurrency, a SageMaker endpoint,
# custom CORS origins, an alarm topic, arm64, no bucket versioning. Build the zips first:
# `make build ARCH=arm64`.
module "imagegen" {
  source = "../.."

  name                    = "imagegen-full"
  region                  = "us-east-1"
  tags                    = { project = "imagegen", environment = "staging", owner = "platform" }
  architecture            = "arm64"
  versioning_enabled      = false
  force_destroy           = true
  image_expiry_days       = 14
  upload_expiry_days      = 2
  job_expiry_days         = 30
  log_retention_days      = 90
  log_level               = "DEBUG"
  tracing_mode            = "Active"
  sagemaker_endpoint_name = "imagegen-sdxl"
  cors_allowed_origins    = ["https://app.example.com", "https://admin.example.com"]
  throttling              = { burst_limit = 20, rate_limit = 10 }
  alarm_topic_arn         = "arn:aws:sns:us-east-1:123456789012:imagegen-alarms"

  generate_models = {
    bedrock = ["us.stability.sd3-5-large-v1:0", "stability.stable-image-ultra-v1:1"]
  }
  webhook_throttling = { burst_limit = 200, rate_limit = 100 }

  auth = {
    type     = "JWT"
    issuer   = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE"
    audience = ["imagegen-clients"]
  }

  function_settings = {
    generate          = { timeout = 45, memory_size = 1024, reserved_concurrency = 10 }
    edit              = { reserved_concurrency = 5 }
    replicate_webhook = { memory_size = 1024, reserved_concurrency = 20 }
    get_job           = { memory_size = 128 }
  }
}
