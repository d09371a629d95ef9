# What a new API key carries unless its operator says otherwise: the deployment's policy, set once.
# An SSM parameter (plain JSON, no secret in it) that the operator's key command reads when it mints a
# key (scripts/keys.py); the functions read each key's own limits from its record, never this.

resource "aws_ssm_parameter" "key_defaults" {
  name        = "/${var.name}/api-keys/defaults"
  description = "Limits a new API key of ${var.name} carries unless its operator sets others (docs/auth.md)"
  type        = "String"
  value = jsonencode({
    for name, value in var.keys : name => value if value != null
  })
}
