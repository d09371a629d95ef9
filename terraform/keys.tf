# What a new API key carries unless its operator says otherwise: the deployment's policy, set once.
# An SSM parameter (JSON, no secret in it, encrypted all the same with the account's aws/ssm key) that
# the operator's key command reads when it mints a key (scripts/keys.py); the functions read each key's
# own limits from its record, never this.

resource "aws_ssm_parameter" "key_defaults" {
  #checkov:skip=CKV_AWS_337:Not a secret (the deployment's default key limits): the account's aws/ssm key encrypts it, and any operator may read it without a key policy of ours.
  name        = "/${var.name}/api-keys/defaults"
  description = "Limits a new API key of ${var.name} carries unless its operator sets others (docs/auth.md)"
  type        = "SecureString"
  value = jsonencode({
    for name, value in var.keys : name => value if value != null
  })
}
