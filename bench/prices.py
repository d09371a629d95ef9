"""List prices used by the cost figures: us-east-1, on-demand, first tier, as published by AWS
and Replicate and checked on 2026-11-24 (aws.amazon.com/lambda/pricing, /api-gateway/pricing,
/s3/pricing, /kms/pricing, /sqs/pricing; replicate.com/pricing). Change them here, nowhere else."""

PRICES_DATE = "2026-11-24"
LAMBDA_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST = 0.20 / 1_000_000
HTTP_API_REQUEST = 1.00 / 1_000_000  # first 300 M requests a month, per 512 KB
S3_PUT = 0.005 / 1000  # PUT, COPY, POST, LIST
S3_GET = 0.0004 / 1000  # GET, SELECT and all other requests
KMS_REQUEST = 0.03 / 10_000
SQS_REQUEST = 0.40 / 1_000_000  # standard queue, per 64 KB chunk of a request, after the first million a month
REPLICATE_T4_SECOND = 0.000225  # Nvidia T4, what public models such as cartoonify run on


def lambda_cost(billed_ms: int, memory_mb: int, arch: str = "x86_64") -> float:
    """Duration cost of one invocation (billed per 1 ms at the configured memory)."""
    return billed_ms / 1000 * memory_mb / 1024 * LAMBDA_GB_SECOND[arch]
