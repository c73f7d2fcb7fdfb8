# One customer-managed key for the warehouse bucket, the stream, the Glue catalog, the log groups and the alarm topic.
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111: a key policy: "*" as its resource is the key itself, and the account root must administer it (AWS's default key policy)
  #checkov:skip=CKV_AWS_356: a key policy: "*" as its resource is the key itself
  #checkov:skip=CKV_AWS_109: a key policy: the account root administers the key (AWS's default key policy), or the key can become unmanageable
  # one statement per principal, alike on purpose: the key policy names each one that may use the key
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" is this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncrypt"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"] # in a key policy "*" is this key
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/${local.name}/*",
        "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:aws-waf-logs-${local.name}-*",
      ]
    }
  }

  statement {
    sid       = "AlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # in a key policy "*" is this key
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "eventlake" {
  description             = "${local.name}: warehouse bucket, Kinesis stream, Glue catalog, logs, alarms"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "eventlake" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.eventlake.key_id
}
