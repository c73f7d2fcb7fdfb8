# The Iceberg namespace `raw` of the Glue catalog (EVENTLAKE_CATALOG_TYPE=glue): its name is eventlake's namespace,
# so it is fixed, one per account and region.
resource "aws_glue_catalog_database" "raw" {
  name        = "raw"
  description = "eventlake raw Iceberg tables: events, users, products, rejected_records"
}

resource "aws_glue_data_catalog_encryption_settings" "catalog" {
  data_catalog_encryption_settings {
    encryption_at_rest {
      catalog_encryption_mode = "SSE-KMS"
      sse_aws_kms_key_id      = aws_kms_key.eventlake.arn
    }

    connection_password_encryption {
      return_connection_password_encrypted = true
      aws_kms_key_id                       = aws_kms_key.eventlake.arn
    }
  }
}
