output "api_id" {
  description = "ID of the HTTP API."
  value       = aws_apigatewayv2_api.this.id
}

output "api_endpoint" {
  description = "Default endpoint of the HTTP API (https://<id>.execute-api.<region>.amazonaws.com)."
  value       = aws_apigatewayv2_api.this.api_endpoint
}

output "execution_arn" {
  description = "Execution ARN of the HTTP API (prefix of the ARNs that IAM callers need execute-api:Invoke on)."
  value       = aws_apigatewayv2_api.this.execution_arn
}

output "stage_invoke_url" {
  description = "Invoke URL of the $default stage."
  value       = aws_apigatewayv2_stage.this.invoke_url
}

output "log_group_name" {
  description = "Name of the access log group."
  value       = aws_cloudwatch_log_group.this.name
}

output "authorizer_id" {
  description = "ID of the routes' authorizer: the JWT authorizer (JWT) or the Lambda REQUEST authorizer (API_KEY); null for AWS_IAM and NONE."
  value       = local.authorizer_id
}

output "route_ids" {
  description = "Route key => route ID."
  value       = { for key, route in aws_apigatewayv2_route.this : key => route.id }
}
