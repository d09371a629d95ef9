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
      condition     = !contains(local.models.generate, "sagemaker") || var.sagemaker.endpoint_name != ""
      error_message = "models.generate names sagemaker but sagemaker.endpoint_name is empty."
    }
    precondition {
      condition     = length(local.models.generate) > 0 || var.sagemaker.endpoint_name != ""
      error_message = "models.generate is empty and no sagemaker.endpoint_name is set: generations would have no model."
    }
  }
}

check "sync_timeouts" {
  assert {
    condition     = var.functions.generate.timeout > var.bedrock.read_timeout_seconds
    error_message = "The generate timeout must exceed bedrock.read_timeout_seconds, or a slow model call is cut off without an error response."
  }

  assert {
    condition     = length(local.bedrock_models.edit) == 0 || var.functions.edit.timeout > var.bedrock.read_timeout_seconds
    error_message = "The edit timeout must exceed bedrock.read_timeout_seconds, or a slow Bedrock edit is cut off without an error response."
  }
}

check "route_functions_configured" {
  assert {
    condition     = setunion(local.route_functions, local.scheduled_functions, local.authorizer_functions, local.queue_functions) == toset(keys(local.functions))
    error_message = "local.functions must be the functions of functions/routes.json plus the scheduled ones and the authorizer."
  }
}

