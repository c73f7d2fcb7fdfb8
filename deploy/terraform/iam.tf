# One task role per service, holding only what that service calls, and one execution role per service, reading
# only the secrets that service is given (ECS pulls the image and writes the logs with it).
locals {
  warehouse_arn = aws_s3_bucket.warehouse.arn
  glue_catalog  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  glue_database = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${aws_glue_catalog_database.raw.name}"
  glue_tables   = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.raw.name}/*"

  # the secrets each service's containers get (ECS injects them as environment variables)
  service_secrets = {
    api         = [var.api_keys_secret_arn, var.job_db_url_secret_arn]
    consumer    = [var.job_db_url_secret_arn]
    dagster     = [var.job_db_url_secret_arn, var.postgres_password_secret_arn, var.snowflake_password_secret_arn]
    dagster-run = [var.job_db_url_secret_arn, var.postgres_password_secret_arn, var.snowflake_password_secret_arn]
    dashboard   = [var.job_db_url_secret_arn, var.postgres_password_secret_arn, var.snowflake_password_secret_arn]
  }
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# -- execution roles ----------------------------------------------------------------------------------------------
resource "aws_iam_role" "execution" {
  for_each           = local.service_secrets
  name               = "${local.name}-${each.key}-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "execution" {
  for_each   = local.service_secrets
  role       = aws_iam_role.execution[each.key].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  for_each = local.service_secrets
  statement {
    actions   = ["secretsmanager:GetSecretValue"]
    resources = each.value
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  for_each = local.service_secrets
  name     = "secrets"
  role     = aws_iam_role.execution[each.key].id
  policy   = data.aws_iam_policy_document.execution_secrets[each.key].json
}

# -- task roles -----------------------------------------------------------------------------------------------------
# Statements alike across roles on purpose: each role's whole policy is reviewed in one place, not assembled from shared pieces.
# the API: publishes to the stream; its health check lists the catalog's namespaces
data "aws_iam_policy_document" "api" {
  statement {
    sid       = "StreamWrite"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [aws_kinesis_stream.ingest.arn]
  }
  statement {
    sid       = "StreamEncrypt"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.eventlake.arn]
  }
  statement {
    sid       = "CatalogList"
    actions   = ["glue:GetDatabase", "glue:GetDatabases"]
    resources = [local.glue_catalog, local.glue_database]
  }
}

# a consumer: reads the stream, writes Parquet and Iceberg metadata, commits through Glue
data "aws_iam_policy_document" "consumer" {
  statement {
    sid       = "StreamRead"
    actions   = ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords"]
    resources = [aws_kinesis_stream.ingest.arn]
  }
  statement {
    sid       = "WarehouseList"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.warehouse_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["warehouse/*", "warehouse"]
    }
  }
  statement {
    sid       = "WarehouseWrite"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.warehouse_arn}/warehouse/*"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.eventlake.arn]
  }
  statement {
    sid = "CatalogCommit"
    # CreateDatabase on the existing database only: pyiceberg's create-if-missing needs AlreadyExists, not AccessDenied
    actions   = ["glue:GetDatabase", "glue:GetDatabases", "glue:CreateDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable"]
    resources = [local.glue_catalog, local.glue_database, local.glue_tables]
  }
}

# Dagster's webserver and daemon: read the catalog (the snapshot sensor), keep step logs, launch each run as an
# ECS task (dagster-aws EcsRunLauncher)
data "aws_iam_policy_document" "dagster" {
  statement {
    sid       = "CatalogRead"
    actions   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]
    resources = [local.glue_catalog, local.glue_database, local.glue_tables]
  }
  statement {
    sid       = "WarehouseRead"
    actions   = ["s3:GetObject"]
    resources = ["${local.warehouse_arn}/warehouse/*"]
  }
  statement {
    sid       = "ComputeLogs"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.warehouse_arn}/dagster/compute-logs/*"]
  }
  statement {
    sid       = "ComputeLogsList"
    actions   = ["s3:ListBucket"]
    resources = [local.warehouse_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["dagster/compute-logs/*"]
    }
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.eventlake.arn]
  }
  statement {
    sid       = "LaunchRuns"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${local.name}-dagster-run:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.eventlake.arn]
    }
  }
  statement {
    sid       = "WatchRuns"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask", "ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.eventlake.name}/*"]
  }
  statement {
    #checkov:skip=CKV_AWS_356: DescribeTaskDefinition and DescribeNetworkInterfaces support no resource-level permissions; both only read
    sid       = "DescribeForLaunch"
    actions   = ["ecs:DescribeTaskDefinition", "ec2:DescribeNetworkInterfaces"]
    resources = ["*"]
  }
  statement {
    sid       = "PassRunRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task["dagster-run"].arn, aws_iam_role.execution["dagster-run"].arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# one Dagster run (an ECS task): dbt, GX checks and table maintenance (compaction, snapshot expiry, orphan files)
data "aws_iam_policy_document" "dagster_run" {
  statement {
    sid       = "CatalogMaintain"
    actions   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables", "glue:UpdateTable"]
    resources = [local.glue_catalog, local.glue_database, local.glue_tables]
  }
  statement {
    sid       = "WarehouseList"
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.warehouse_arn]
  }
  statement {
    sid       = "WarehouseMaintain"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.warehouse_arn}/warehouse/*", "${local.warehouse_arn}/dagster/compute-logs/*"]
  }
  statement {
    # the GX checks' stores and Data Docs site (EVENTLAKE_DATA_DOCS_URL defaults to s3://<bucket>/gx)
    sid       = "DataDocs"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.warehouse_arn}/gx/*"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.eventlake.arn]
  }
}

# the dashboard: reads the raw tables (rejected records) through the catalog
data "aws_iam_policy_document" "dashboard" {
  statement {
    sid       = "CatalogRead"
    actions   = ["glue:GetDatabase", "glue:GetDatabases", "glue:GetTable", "glue:GetTables"]
    resources = [local.glue_catalog, local.glue_database, local.glue_tables]
  }
  statement {
    sid       = "WarehouseRead"
    actions   = ["s3:GetObject"]
    resources = ["${local.warehouse_arn}/warehouse/*", "${local.warehouse_arn}/gx/*"]
  }
  statement {
    sid       = "Encryption"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.eventlake.arn]
  }
}

locals {
  task_policies = {
    api         = data.aws_iam_policy_document.api.json
    consumer    = data.aws_iam_policy_document.consumer.json
    dagster     = data.aws_iam_policy_document.dagster.json
    dagster-run = data.aws_iam_policy_document.dagster_run.json
    dashboard   = data.aws_iam_policy_document.dashboard.json
  }
}

resource "aws_iam_role" "task" {
  for_each           = local.service_secrets
  name               = "${local.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "task" {
  for_each = local.task_policies
  name     = each.key
  role     = aws_iam_role.task[each.key].id
  policy   = each.value
}
