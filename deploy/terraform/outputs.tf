output "api_url" {
  description = "The API behind the load balancer (point a DNS name of the certificate at it)."
  value       = "https://${aws_lb.api.dns_name}"
}

output "kinesis_stream_name" {
  description = "EVENTLAKE_STREAM_NAME"
  value       = aws_kinesis_stream.ingest.name
}

output "warehouse" {
  description = "EVENTLAKE_WAREHOUSE"
  value       = local.warehouse_uri
}

output "glue_database" {
  description = "The Glue database of the raw Iceberg tables."
  value       = aws_glue_catalog_database.raw.name
}

output "ecs_cluster" {
  description = "The ECS cluster of the services and of Dagster's runs."
  value       = aws_ecs_cluster.eventlake.name
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}
