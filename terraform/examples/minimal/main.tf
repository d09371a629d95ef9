# The smallest deployment: every input at its default (API_KEY auth: mint keys with `make api-key`;
# Bedrock text-to-image and edits, Replicate edits, versioned bucket). Build the zips first: `make build`.
module "imagegen" {
  source = "../.."
}
