# Every optional feature on: API keys with a short authorizer cache, X-Ray tracing, reserved
# concurrency, a SageMaker endpoint, custom CORS origins, an alarm topic, arm64, no bucket
# versioning, models picked from the catalog (Stable Image Ultra and Core from us-west-2, FLUX on
# Replicate, the SageMaker endpoint), model aliases, a shorter
# `Prefer: wait` and both image analysis models. Build the zips first: `make build ARCH=arm64`.
# (JWT instead: auth = { type = "JWT", issuer = "https://cognito-idp.<region>.amazonaws.com/<pool id>",
# audience = ["<client id>"] }.)
module "imagegen" {
  source = "../.."

  name         = "imagegen-full"
  region       = "us-east-1"
  tags         = { project = "imagegen", environment = "staging", owner = "platform" }
  architecture = "arm64"

  bucket = {
    versioning    = false
    force_destroy = true
    expiry_days   = { images = 14, uploads = 2, jobs = 30 }
  }

  logs = {
    level          = "DEBUG"
    retention_days = 90
    tracing_mode   = "Active"
  }

  # Bearer API keys (`make api-key NAME=...`); a revoked key stops working within a minute.
  auth = {
    type          = "API_KEY"
    cache_seconds = 60
  }

  api = {
    cors_allowed_origins    = ["https://app.example.com", "https://admin.example.com"]
    throttling              = { burst_limit = 20, rate_limit = 10 }
    webhook_throttling      = { burst_limit = 200, rate_limit = 100 }
    prefer_wait_max_seconds = 15
  }

  functions = {
    generate          = { timeout = 45, memory_size = 1024, reserved_concurrency = 10 }
    edit              = { reserved_concurrency = 5 }
    replicate_webhook = { memory_size = 1024, reserved_concurrency = 20 }
    get_job           = { memory_size = 128 }
  }

  # Models by catalog name (README: Models), the first of each list the route's default. Each runs
  # where the catalog says, whatever this stack's region: Ultra and Core on demand in us-west-2.
  models = {
    generate = ["stable-image-ultra", "stable-image-core", "sagemaker", "flux-dev"]
    edit     = ["sd3.5-large", "stable-image-inpaint", "flux-kontext-pro", "flux-fill-pro", "cartoonify"]
    aliases = {
      house-render = "stable-image-ultra"
      sketch       = "flux-kontext-pro"
    }
  }

  sagemaker = { endpoint_name = "imagegen-sdxl" }

  # Image analysis: the two demo models `make serve` installs (they look at the mean colour). Upload
  # them after the apply: aws s3 cp colour-classifier.onnx s3://<bucket_name>/models/demo/colour-classifier.onnx
  # (and colour-detector.onnx, colours.txt likewise); the analyze role may read exactly these keys.
  analysis_models = {
    classification = {
      key        = "models/demo/colour-classifier.onnx"
      labels_key = "models/demo/colours.txt"
      input_size = [64, 64]
    }
    detection = {
      key        = "models/demo/colour-detector.onnx"
      labels_key = "models/demo/colours.txt"
      input_size = [128, 128]
      resize     = "letterbox"
      output     = "yolo"
    }
  }

  alarms = { topic_arn = "arn:aws:sns:us-east-1:123456789012:imagegen-alarms" }
}
