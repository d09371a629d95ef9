"""Local development and test tooling: the local HTTP API server, the offline
provider fakes and the LocalStack bucket setup. Never deployed to Lambda."""
