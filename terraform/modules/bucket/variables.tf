variable "bucket" {
  description = "Name of the bucket (3-63 characters: lowercase letters, digits, hyphens, dots). Also names the KMS alias."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket))
    error_message = "bucket must be 3-63 characters of lowercase letters, digits, hyphens and dots, starting and ending with a letter or digit."
  }
}

variable "force_destroy" {
  description = "Delete every object (and version) when the bucket is destroyed. Leave false outside throw-away environments."
  type        = bool
  default     = false
}

variable "versioning_enabled" {
  description = "Keep previous object versions (recover from overwrites and deletes). true: Enabled, false: Suspended."
  type        = bool
  default     = true
}

variable "noncurrent_version_expiration_days" {
  description = "Days a previous object version is kept before it is deleted (only matters with versioning)."
  type        = number
  default     = 7

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of at least 1."
  }
}

variable "expiration_days" {
  description = "Lifecycle expiry: key prefix (ending in \"/\", e.g. \"images/\") => days after which objects under it are deleted."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for prefix, days in var.expiration_days : endswith(prefix, "/") && days >= 1 && floor(days) == days])
    error_message = "Each expiration_days key must end in \"/\" and each value must be a whole number of days, at least 1."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period (7-30 days) before the bucket's KMS key is deleted after a destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

variable "tags" {
  description = "Tags for the bucket and its KMS key (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
