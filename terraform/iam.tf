# IAM statements several functions share, and each function's bucket statements (ListBucket, KMS).

locals {
  ssm_parameter_arn_prefix          = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter"
  replicate_api_token_parameter_arn = "${local.ssm_parameter_arn_prefix}/${trimprefix(var.replicate.api_token_parameter_name, "/")}"
  webhook_secret_parameter_arn      = "${local.ssm_parameter_arn_prefix}/${trimprefix(var.replicate.webhook_secret_parameter_name, "/")}"
  objects                           = { for prefix in ["images", "uploads", "jobs", "open", "usage", "auth/api-keys", "limits", "ratelimit", "webhooks/secrets"] : prefix => "${module.bucket.arn}/${prefix}/*" }

  # IAM statements several functions need, written once.
  statements = {
    read_replicate_token = { sid = "ReadReplicateApiToken", actions = ["ssm:GetParameter"], resources = [local.replicate_api_token_parameter_arn], conditions = [] }
    read_write_jobs      = { sid = "ReadWriteJobs", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.objects.jobs], conditions = [] }
    write_images         = { sid = "WriteImages", actions = ["s3:PutObject"], resources = [local.objects.images], conditions = [] }
    # Every function that ends a job removes its open/ marker; the ones that create Replicate jobs write it.
    close_open_jobs = { sid = "CloseOpenJobs", actions = ["s3:DeleteObject"], resources = [local.objects.open], conditions = [] }
    open_jobs       = { sid = "OpenJobs", actions = ["s3:PutObject", "s3:DeleteObject"], resources = [local.objects.open], conditions = [] }
    # Every function that can finish a job with images adds it to its owner's usage ledger (create only).
    record_usage = { sid = "RecordUsage", actions = ["s3:PutObject"], resources = [local.objects.usage], conditions = [] }
    # A key's budgets: reserved before a model is called, settled by whatever ends the job (jobs.limits).
    key_budgets = { sid = "KeyBudgets", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.objects.limits], conditions = [] }
    # A key's requests per window, counted where the model is called.
    key_rates = { sid = "KeyRates", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.objects.ratelimit], conditions = [] }
    # A job that ends puts its webhook delivery on the queue (jobs.notify), whoever ends it.
    send_deliveries = { sid = "SendWebhookDeliveries", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.deliveries.arn], conditions = [] }
    # Each key's webhook signing secret, made on first use.
    webhook_secrets = { sid = "WebhookSecrets", actions = ["s3:GetObject", "s3:PutObject"], resources = [local.objects["webhooks/secrets"]], conditions = [] }
  }
  # generate and edit queue Prefer: respond-async jobs on the work queues of their own models (none: no statement).
  queue_job_statements = {
    for function in ["generate", "edit"] : function => [
      for arns in [[for name, queue in aws_sqs_queue.work : queue.arn if contains(local.function_models[function], name)]] : {
        sid = "QueueJobs", actions = ["sqs:SendMessage"], resources = arns, conditions = []
      } if length(arns) > 0
    ]
  }

  # Per function, from its own statements: s3:ListBucket for the prefixes (or exact keys) it reads,
  # so a missing key is a 404, not a 403 (S3's implicit check for that carries the key as s3:prefix);
  # a listing must name one of them (StringLike, not IfExists: a listing without a prefix has no
  # s3:prefix and is refused, so no role can enumerate the bucket); and the bucket's KMS key through
  # S3 for a function that reads or writes objects (a listing decrypts nothing): Decrypt to read,
  # GenerateDataKey only for a function that writes. None at all for a function with no S3 action and
  # no listing (analyze without models); decided on the actions, which are known at plan, so the
  # statement count is too.
  bucket_statements = {
    for name, function in local.functions : name => !anytrue(concat([length(try(function.lists, [])) > 0], [for statement in function.statements : anytrue([for action in statement.actions : startswith(action, "s3:")])])) ? [] : concat(
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
      !anytrue([for statement in function.statements : anytrue([for action in statement.actions : contains(["s3:GetObject", "s3:PutObject"], action)])]) ? [] : [{
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
}
