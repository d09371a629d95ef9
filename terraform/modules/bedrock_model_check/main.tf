# A check block's data source failing (model unknown, access denied, no Bedrock here) is a warning,
# never an error: the plan goes on and says why.
check "bedrock_model" {
  data "aws_bedrock_foundation_model" "this" {
    model_id = var.model_id
  }

  assert {
    condition     = contains(data.aws_bedrock_foundation_model.this.output_modalities, "IMAGE")
    error_message = "Bedrock model ${var.model_id} does not output images: imagegen cannot generate or edit with it."
  }
}
