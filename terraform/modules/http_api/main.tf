locals {
  # API_KEY is a Lambda (REQUEST) authorizer: API Gateway calls such routes CUSTOM.
  authorization_type = var.authorization.type == "API_KEY" ? "CUSTOM" : var.authorization.type
  authorizer_id      = one(concat(aws_apigatewayv2_authorizer.this[*].id, aws_apigatewayv2_authorizer.api_key[*].id))
}

resource "aws_apigatewayv2_api" "this" {
  name          = var.name
  description   = var.description
  protocol_type = "HTTP"
  tags          = var.tags

  dynamic "cors_configuration" {
    for_each = length(var.cors_allowed_origins) > 0 ? [var.cors_allowed_origins] : []

    content {
      allow_origins  = cors_configuration.value
      allow_methods  = var.cors_allowed_methods
      allow_headers  = var.cors_allowed_headers
      expose_headers = var.cors_exposed_headers
      max_age        = var.cors_max_age_seconds
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs already encrypts at rest; a customer key would need a key policy for the logs service, and access logs hold no secrets.
  #checkov:skip=CKV_AWS_338:Retention is the operator's choice (log_retention_days); access logs hold caller IPs, so keeping them a year by default is a privacy cost rather than a control.
  name              = "/aws/apigateway/${var.name}"
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = "$default"
  auto_deploy = true
  tags        = var.tags

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.this.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      httpMethod         = "$context.httpMethod"
      path               = "$context.path"
      routeKey           = "$context.routeKey"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
      callerArn          = "$context.identity.userArn"
    })
  }

  default_route_settings {
    throttling_burst_limit   = var.throttling.burst_limit
    throttling_rate_limit    = var.throttling.rate_limit
    detailed_metrics_enabled = var.detailed_metrics_enabled
  }

  dynamic "route_settings" {
    for_each = var.route_throttling

    content {
      route_key                = route_settings.key
      throttling_burst_limit   = route_settings.value.burst_limit
      throttling_rate_limit    = route_settings.value.rate_limit
      detailed_metrics_enabled = var.detailed_metrics_enabled
    }
  }

  # Route settings name routes that must exist first.
  depends_on = [aws_apigatewayv2_route.this]
}

resource "aws_apigatewayv2_authorizer" "this" {
  count = var.authorization.type == "JWT" ? 1 : 0

  api_id           = aws_apigatewayv2_api.this.id
  name             = "${var.name}-jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]

  jwt_configuration {
    issuer   = var.authorization.issuer
    audience = var.authorization.audience
  }
}

# API_KEY: a Lambda REQUEST authorizer (payload 2.0, simple responses) on the Authorization header.
# A request without the header is a 401 from API Gateway itself; an allowed key's answer is cached
# for cache_seconds per header value, so a revoked key keeps working for up to that long.
resource "aws_apigatewayv2_authorizer" "api_key" {
  count = var.authorization.type == "API_KEY" ? 1 : 0

  api_id                            = aws_apigatewayv2_api.this.id
  name                              = "${var.name}-api-key"
  authorizer_type                   = "REQUEST"
  authorizer_uri                    = try(var.authorizer_function.invoke_arn, null)
  authorizer_payload_format_version = "2.0"
  enable_simple_responses           = true
  identity_sources                  = ["$request.header.Authorization"]
  authorizer_result_ttl_in_seconds  = var.authorization.cache_seconds

  lifecycle {
    precondition {
      condition     = var.authorizer_function != null
      error_message = "authorization.type API_KEY needs authorizer_function (the authorizer Lambda's function_name and invoke_arn)."
    }
  }
}

# API Gateway may invoke the authorizer function for this authorizer only.
resource "aws_lambda_permission" "authorizer" {
  count = var.authorization.type == "API_KEY" ? 1 : 0

  statement_id  = "AllowInvokeFromHttpApiAuthorizer"
  action        = "lambda:InvokeFunction"
  function_name = try(var.authorizer_function.function_name, null)
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/authorizers/${aws_apigatewayv2_authorizer.api_key[0].id}"
}

resource "aws_apigatewayv2_integration" "this" {
  for_each = var.functions

  api_id                 = aws_apigatewayv2_api.this.id
  description            = "Lambda function ${each.value.function_name}"
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = each.value.invoke_arn
  payload_format_version = "2.0"
  timeout_milliseconds   = var.integration_timeout_milliseconds
}

resource "aws_apigatewayv2_route" "this" {
  #checkov:skip=CKV_AWS_309:Routes marked auth in routes.json use var.authorization (API_KEY through the Lambda authorizer, the root module's default, or AWS_IAM or JWT); open are only the Replicate webhook route, because Replicate cannot send our API key, SigV4 or a JWT (its handler verifies the webhook signature instead), and the playground page and the OpenAPI contract, which hold no data (the page calls the authorized routes with the key typed into it).
  for_each = var.routes

  api_id             = aws_apigatewayv2_api.this.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.this[each.value.function].id}"
  authorization_type = each.value.authorized ? local.authorization_type : "NONE"
  authorizer_id      = each.value.authorized ? local.authorizer_id : null
}

resource "aws_lambda_permission" "this" {
  for_each = var.functions

  statement_id  = "AllowInvokeFromHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = each.value.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/*/*"
}
