variable "aws_region" {
  description = "AWS region of every resource (and EVENTLAKE_AWS_REGION of the services)."
  type        = string
  default     = "us-east-1"
}

variable "name_prefix" {
  description = "Prefix of every resource name."
  type        = string
  default     = "eventlake"
}

variable "image" {
  description = "The eventlake image (deploy/Dockerfile), pinned by digest: <account>.dkr.ecr.<region>.amazonaws.com/eventlake@sha256:..."
  type        = string
}

variable "kinesis_shard_count" {
  description = "Shards of the ingest stream (EVENTLAKE_STREAM_SHARDS). One shard takes 1 MB/s or 1,000 records/s of PUTs."
  type        = number
  default     = 2

  validation {
    condition     = var.kinesis_shard_count >= 1
    error_message = "kinesis_shard_count must be at least 1."
  }
}

variable "kinesis_retention_hours" {
  description = "How long the stream keeps records: the time consumers may be down without losing data."
  type        = number
  default     = 24
}

variable "consumer_count" {
  description = "Consumer tasks (eventlake consume). They share the shards through leases: more than kinesis_shard_count only adds standbys."
  type        = number
  default     = 2
}

variable "api_count" {
  description = "API tasks behind the load balancer."
  type        = number
  default     = 2
}

variable "warehouse_bucket_name" {
  description = "S3 bucket of the Iceberg warehouse (EVENTLAKE_WAREHOUSE=s3://<bucket>/warehouse)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the services."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets of the ECS tasks (with a NAT or VPC endpoints for ECR, S3, Kinesis, Glue, Logs, Secrets Manager)."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Public subnets of the API's load balancer."
  type        = list(string)
}

variable "api_ingress_cidrs" {
  description = "Networks allowed to reach the API's load balancer on 443 (the producers)."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the API's HTTPS listener."
  type        = string
}

variable "postgres_host" {
  description = "Postgres (e.g. RDS) holding Dagster's storage and the job store: hostname."
  type        = string
}

variable "postgres_security_group_id" {
  description = "Security group of that Postgres: the services get an ingress rule on 5432 in it."
  type        = string
}

variable "postgres_password_secret_arn" {
  description = "Secrets Manager secret: the Postgres password of the eventlake user (DAGSTER_POSTGRES_PASSWORD)."
  type        = string
}

variable "job_db_url_secret_arn" {
  description = "Secrets Manager secret: EVENTLAKE_JOB_DB_URL, postgresql+psycopg://eventlake:<password>@<host>:5432/eventlake_jobs?sslmode=require."
  type        = string
}

variable "api_keys_secret_arn" {
  description = "Secrets Manager secret: EVENTLAKE_API_KEYS, comma-separated."
  type        = string
}

variable "snowflake_password_secret_arn" {
  description = "Secrets Manager secret: EVENTLAKE_SNOWFLAKE_PASSWORD."
  type        = string
}

variable "snowflake" {
  description = "EVENTLAKE_SNOWFLAKE_* settings other than the password."
  type = object({
    account   = string
    user      = string
    database  = string
    warehouse = string
    role      = string
    schema    = string
  })
}

variable "log_retention_days" {
  description = "Retention of the services' CloudWatch log groups."
  type        = number
  default     = 365
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic."
  type        = list(string)
  default     = []
}

variable "alarm_api_5xx_rate_percent" {
  description = "API alarm: 5xx answers as a percentage of requests, over 5 minutes."
  type        = number
  default     = 1
}

variable "alarm_iterator_age_seconds" {
  description = "Consumer lag alarm: age of the oldest unread Kinesis record (GetRecords.IteratorAgeMilliseconds)."
  type        = number
  default     = 300
}

variable "alarm_pipeline_latency_seconds" {
  description = "Freshness alarm: POST to fact_events (the eventlake/PipelineLatencySeconds metric)."
  type        = number
  default     = 900
}
