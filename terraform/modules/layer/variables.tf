variable "layer_name" {
  description = "Name of the layer (letters, digits, hyphens, underscores; at most 140 characters). Each new zip publishes a new version under it."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,140}$", var.layer_name))
    error_message = "layer_name must be 1-140 letters, digits, hyphens or underscores."
  }
}

variable "description" {
  description = "Description of the layer version."
  type        = string
  default     = ""
}

variable "filename" {
  description = "Path of the layer zip built by the Makefile (dist/layers/<name>.zip, files under python/). Its hash publishes a new version when the content changes."
  type        = string
}

variable "compatible_runtimes" {
  description = "Runtimes the layer is built for, e.g. [\"python3.12\"]."
  type        = list(string)
  default     = ["python3.12"]
}

variable "compatible_architectures" {
  description = "Architectures the layer's native wheels are built for: x86_64 and/or arm64."
  type        = list(string)
  default     = ["x86_64"]

  validation {
    condition     = alltrue([for architecture in var.compatible_architectures : contains(["x86_64", "arm64"], architecture)])
    error_message = "compatible_architectures may contain only x86_64 and arm64."
  }
}
