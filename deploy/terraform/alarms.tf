# Alerts of the design: API error rate, consumer lag (Kinesis iterator age), failed Iceberg commits, pipeline
# latency. Every alarm notifies the SNS topic.
resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.eventlake.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# 5xx answers (the tasks' and the load balancer's own) as a percentage of requests, over 5 minutes
resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.name}-api-5xx-rate"
  alarm_description   = "More than ${var.alarm_api_5xx_rate_percent}% of API requests answered 5xx over 5 minutes: see /${local.name}/api logs."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_api_5xx_rate_percent
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / requests"
    label       = "API 5xx %"
    return_data = true
  }

  # the load balancer's counts the rate is computed from, each summed over 5 minutes
  dynamic "metric_query" {
    for_each = {
      target5xx = "HTTPCode_Target_5XX_Count"
      elb5xx    = "HTTPCode_ELB_5XX_Count"
      requests  = "RequestCount"
    }
    content {
      id = metric_query.key
      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = metric_query.value
        period      = 300
        stat        = "Sum"
        dimensions  = { LoadBalancer = aws_lb.api.arn_suffix }
      }
    }
  }
}

# consumer lag: the oldest record the consumers have not read yet, five minutes in a row
resource "aws_cloudwatch_metric_alarm" "kinesis_iterator_age" {
  alarm_name          = "${local.name}-kinesis-iterator-age"
  alarm_description   = "Consumers are more than ${var.alarm_iterator_age_seconds} s behind the stream: are the consumer tasks running (/${local.name}/consumer)? Records older than the retention (${var.kinesis_retention_hours} h) are lost."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.ingest.name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_iterator_age_seconds * 1000
  # no data: nobody reads the stream at all, which is the worst lag
  treat_missing_data = "breaching"
  alarm_actions      = [aws_sns_topic.alarms.arn]
  ok_actions         = [aws_sns_topic.alarms.arn]
}

# failed commits: the consumer logs "commit of <batch> failed after N attempts" (platform/consumer.py) and
# "commit to <table> failed after N attempts" (platform/committer.py) when it gives up; a metric filter turns
# those lines into the custom metric eventlake/ConsumerCommitFailures
resource "aws_cloudwatch_log_metric_filter" "commit_failures" {
  name           = "${local.name}-commit-failures"
  log_group_name = aws_cloudwatch_log_group.service["consumer"].name
  pattern        = "\"commit\" \"failed after\" \"attempts\""

  metric_transformation {
    namespace     = "eventlake"
    name          = "ConsumerCommitFailures"
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "commit_failures" {
  alarm_name          = "${local.name}-commit-failures"
  alarm_description   = "A consumer gave up committing a batch to Iceberg (its jobs are FAILED or retried): see /${local.name}/consumer logs."
  namespace           = "eventlake"
  metric_name         = "ConsumerCommitFailures"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# pipeline latency: POST to fact_events, the custom metric eventlake/PipelineLatencySeconds. Nothing in eventlake
# publishes it yet (deploy/README.md, "Alarms"): until something does, this alarm stays INSUFFICIENT_DATA.
resource "aws_cloudwatch_metric_alarm" "pipeline_latency" {
  alarm_name          = "${local.name}-pipeline-latency"
  alarm_description   = "Events take more than ${var.alarm_pipeline_latency_seconds} s from POST to marts.fact_events: check the iterator age, the transform_job runs in Dagster and the run queue."
  namespace           = "eventlake"
  metric_name         = "PipelineLatencySeconds"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_pipeline_latency_seconds
  treat_missing_data  = "missing"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
