variable "model_id" {
  description = "Foundation-model id to look up in the provider's region, e.g. stability.sd3-5-large-v1:0 (the model behind an inference profile)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9-]+\\.[A-Za-z0-9._:-]+$", var.model_id))
    error_message = "model_id must be a Bedrock foundation-model id such as stability.sd3-5-large-v1:0."
  }
}
