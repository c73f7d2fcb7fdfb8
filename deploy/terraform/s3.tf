# The Iceberg warehouse (raw tables, their metadata) and Dagster's step logs, under one KMS-encrypted bucket.
resource "aws_s3_bucket" "warehouse" {
  #checkov:skip=CKV_AWS_144: cross-region replication doubles storage and PUT cost; durability comes from S3 itself and versioning, and the stream (24 h) can replay the last day
  #checkov:skip=CKV2_AWS_62: nothing consumes bucket events: new data is found through Iceberg snapshots (the Dagster sensor), not S3 notifications
  bucket = var.warehouse_bucket_name
}

resource "aws_s3_bucket_versioning" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.eventlake.arn
    }
    bucket_key_enabled = true # one KMS request per object batch, not per object
  }
}

resource "aws_s3_bucket_public_access_block" "warehouse" {
  bucket                  = aws_s3_bucket.warehouse.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  # Iceberg deletes files itself (snapshot expiry, orphan removal); versioning keeps them as noncurrent
  # versions for a week so a bad maintenance run can be undone, then they go.
  rule {
    id     = "expire-noncurrent"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  # Parquet data files are read less as they age: Intelligent-Tiering moves cold ones down without retrieval fees
  rule {
    id     = "data-intelligent-tiering"
    status = "Enabled"
    filter {
      prefix = "warehouse/"
    }
    transition {
      days          = 30
      storage_class = "INTELLIGENT_TIERING"
    }
  }

  rule {
    id     = "dagster-compute-logs"
    status = "Enabled"
    filter {
      prefix = "dagster/compute-logs/"
    }
    expiration {
      days = 90
    }
  }
}

resource "aws_s3_bucket_logging" "warehouse" {
  bucket        = aws_s3_bucket.warehouse.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${var.warehouse_bucket_name}/"
}

data "aws_iam_policy_document" "warehouse_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.warehouse.arn, "${aws_s3_bucket.warehouse.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "warehouse" {
  bucket = aws_s3_bucket.warehouse.id
  policy = data.aws_iam_policy_document.warehouse_bucket.json
}

# -- access logs: the warehouse bucket's server access logs and the load balancer's ------------------------------
# Hardened like the warehouse bucket, spelled out on purpose: for_each would move the deployed resources to new addresses.
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_144: access logs are not replicated: they are an audit trail kept 365 days in-region
  #checkov:skip=CKV2_AWS_62: nothing consumes events of the log bucket
  #checkov:skip=CKV_AWS_18: this is the access-log bucket; logging it to itself would loop
  #checkov:skip=CKV_AWS_145: ALB access logs can only be delivered to a bucket encrypted with SSE-S3, not SSE-KMS
  bucket = "${var.warehouse_bucket_name}-logs"
}

resource "aws_s3_bucket_versioning" "logs" {
  bucket = aws_s3_bucket.logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "logs" {
  bucket                  = aws_s3_bucket.logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id

  rule {
    id     = "expire-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = 365
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "logs_bucket" {
  statement {
    sid       = "ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "LoadBalancerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/alb/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.logs.arn, "${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "logs" {
  bucket = aws_s3_bucket.logs.id
  policy = data.aws_iam_policy_document.logs_bucket.json
}
