output "api_url" {
  description = "Invoke URL of the API's $default stage."
  value       = module.imagegen.api_url
}

output "playground_url" {
  description = "The playground page: open it in a browser (API calls need a key: make api-key)."
  value       = module.imagegen.playground_url
}

output "webhook_url" {
  description = "URL Replicate calls back."
  value       = module.imagegen.webhook_url
}

output "bucket_name" {
  description = "Name of the bucket (images, jobs and the API key records under auth/api-keys/)."
  value       = module.imagegen.bucket_name
}

output "imagegen" {
  description = "Every output of the imagegen module (bucket, functions, roles, layers, ...)."
  value       = module.imagegen
}
