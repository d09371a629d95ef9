output "api_url" {
  description = "Invoke URL of the API's $default stage."
  value       = module.imagegen.api_url
}

output "webhook_url" {
  description = "URL Replicate calls back."
  value       = module.imagegen.webhook_url
}

output "imagegen" {
  description = "Every output of the imagegen module (bucket, functions, roles, layers, ...)."
  value       = module.imagegen
}
