# The smallest deployment: every input at its default (AWS_IAM auth, Bedrock text-to-image,
# Replicate edits, versioned bucket). Build the zips first: `make build`.
module "imagegen" {
  source = "../.."
}
