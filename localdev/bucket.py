"""Create the bucket in LocalStack with the settings terraform/modules/bucket applies."""

from __future__ import annotations

import contextlib
import json

import boto3


def ensure_bucket(name: str, *, expiry_days: dict[str, int] | None = None) -> None:
    """Create (or re-apply settings to) a private, encrypted, TLS-only bucket. Idempotent."""
    s3 = boto3.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=name)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]
        },
    )
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(tls_only_policy(name)))
    days = {"images/": 30, "uploads/": 1, "jobs/": 30, **(expiry_days or {})}
    s3.put_bucket_lifecycle_configuration(
        Bucket=name,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": f"expire-{prefix.rstrip('/')}",
                    "Status": "Enabled",
                    "Filter": {"Prefix": prefix},
                    "Expiration": {"Days": d},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
                for prefix, d in days.items()
            ]
        },
    )


def tls_only_policy(name: str) -> dict:
    arn = f"arn:aws:s3:::{name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
