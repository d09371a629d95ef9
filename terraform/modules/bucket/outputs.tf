output "name" {
  description = "Name of the bucket."
  value       = aws_s3_bucket.this.id
}

output "arn" {
  description = "ARN of the bucket."
  value       = aws_s3_bucket.this.arn
}

output "kms_key_arn" {
  description = "ARN of the KMS key that encrypts the bucket's objects (readers and writers need kms:Decrypt / kms:GenerateDataKey on it)."
  value       = aws_kms_key.this.arn
}
