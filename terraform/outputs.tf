output "api_url" {
  description = "Invoke URL of the API's $default stage."
  value       = module.http_api.stage_invoke_url
}

output "playground_url" {
  description = "The playground page (public; it calls the API with the key typed into it). The contract is openapi.json beside it."
  value       = "${trimsuffix(module.http_api.stage_invoke_url, "/")}/playground"
}

output "webhook_url" {
  description = "URL Replicate calls back (the route of replicate_webhook in routes.json)."
  value       = try("${trimsuffix(module.http_api.stage_invoke_url, "/")}${local.webhook_path}", null)
}

output "api_execution_arn" {
  description = "Execution ARN of the API: grant IAM callers execute-api:Invoke on <arn>/$default/<METHOD>/<path>."
  value       = module.http_api.execution_arn
}

output "bucket_name" {
  description = "Name of the bucket holding images/, uploads/, jobs/ and the API key records (auth/api-keys/; `make api-key` reads this output)."
  value       = module.bucket.name
}

output "bucket_kms_key_arn" {
  description = "ARN of the KMS key encrypting the bucket."
  value       = module.bucket.kms_key_arn
}

output "function_names" {
  description = "Function key (as in routes.json) => Lambda function name."
  value       = { for key, function in module.functions : key => function.function_name }
}

output "function_role_arns" {
  description = "Function key => ARN of its execution role."
  value       = { for key, function in module.functions : key => function.role_arn }
}

output "layer_arns" {
  description = "Layer key (imagegen, vendor, analysis) => ARN of the published layer version."
  value       = { for key, layer in module.layers : key => layer.arn }
}

output "auth_type" {
  description = "How the routes with \"auth\": true are authorized: API_KEY, AWS_IAM, JWT or NONE (auth.type)."
  value       = var.auth.type
}

output "authorizer_id" {
  description = "ID of the routes' API Gateway authorizer: the Lambda REQUEST authorizer (API_KEY) or the JWT authorizer (JWT); null for AWS_IAM and NONE."
  value       = module.http_api.authorizer_id
}

output "jwt_authorizer_id" {
  description = "ID of the JWT authorizer; null unless auth.type is JWT."
  value       = var.auth.type == "JWT" ? module.http_api.authorizer_id : null
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard (requests, errors, latency, jobs, provider latency, estimated cost)."
  value       = module.monitoring.dashboard_name
}

output "alarm_names" {
  description = "Names of the CloudWatch alarms (empty unless alarms.topic_arn is set)."
  value       = module.monitoring.alarm_names
}

output "key_defaults_parameter" {
  description = "The SSM parameter holding the limits a new API key carries (Terraform `keys`); scripts/keys.py reads it."
  value       = aws_ssm_parameter.key_defaults.name
}
