terraform {
  required_version = ">= 1.5"

  # Where the state lives: an S3 bucket of its own (versioned, encrypted, not the API's bucket), one key
  # per environment, locked with S3's own lock file (use_lockfile, Terraform 1.10+; no DynamoDB table).
  # Uncomment and name your bucket before the first apply (docs/deploy.md, "First deploy"):
  #
  # backend "s3" {
  #   bucket       = "my-org-terraform-state"
  #   key          = "imagegen/production/terraform.tfstate"
  #   region       = "us-east-1"
  #   encrypt      = true
  #   use_lockfile = true
  # }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7.0"
    }
  }
}
