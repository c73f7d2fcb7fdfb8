resource "aws_kinesis_stream" "ingest" {
  name             = "${local.name}-ingest"
  shard_count      = var.kinesis_shard_count
  retention_period = var.kinesis_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = aws_kms_key.eventlake.arn

  stream_mode_details {
    stream_mode = "PROVISIONED"
  }

  shard_level_metrics = ["IncomingRecords", "IncomingBytes", "IteratorAgeMilliseconds", "WriteProvisionedThroughputExceeded"]
}
