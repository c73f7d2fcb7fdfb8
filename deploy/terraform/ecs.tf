# The services on ECS Fargate, one image (deploy/Dockerfile), the role as the container's command:
# api (behind the HTTPS load balancer), consumer (N tasks), dagster-webserver, dagster-daemon (launching each run
# as an ECS task of the dagster-run task definition) and dashboard. They reach each other by name through ECS
# Service Connect (http://dagster-webserver:3000), Postgres on 5432, and AWS APIs and Snowflake on 443.
resource "aws_ecs_cluster" "eventlake" {
  name = local.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_service_discovery_http_namespace" "eventlake" {
  name        = local.name
  description = "Service Connect names of the eventlake services"
}

resource "aws_cloudwatch_log_group" "service" {
  for_each          = toset(["api", "consumer", "dagster-webserver", "dagster-daemon", "dagster-run", "dashboard"])
  name              = "/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.eventlake.arn
}

locals {
  warehouse_uri = "s3://${aws_s3_bucket.warehouse.bucket}/warehouse"

  # EVENTLAKE_* settings (platform/settings.py) and the Dagster instance's (deploy/dagster/ecs/dagster.yaml)
  environment = [for k, v in {
    EVENTLAKE_ENV                 = "PROD"
    EVENTLAKE_HOME                = "/data"
    EVENTLAKE_STREAM              = "kinesis"
    EVENTLAKE_STREAM_NAME         = aws_kinesis_stream.ingest.name
    EVENTLAKE_STREAM_SHARDS       = tostring(var.kinesis_shard_count)
    EVENTLAKE_AWS_REGION          = local.region
    EVENTLAKE_CATALOG_TYPE        = "glue"
    EVENTLAKE_WAREHOUSE           = local.warehouse_uri
    EVENTLAKE_DAGSTER_URL         = "http://dagster-webserver:3000"
    EVENTLAKE_SNOWFLAKE_ACCOUNT   = var.snowflake.account
    EVENTLAKE_SNOWFLAKE_USER      = var.snowflake.user
    EVENTLAKE_SNOWFLAKE_DATABASE  = var.snowflake.database
    EVENTLAKE_SNOWFLAKE_WAREHOUSE = var.snowflake.warehouse
    EVENTLAKE_SNOWFLAKE_ROLE      = var.snowflake.role
    EVENTLAKE_SNOWFLAKE_SCHEMA    = var.snowflake.schema
    DAGSTER_HOME                  = "/data/dagster"
    DAGSTER_INSTANCE_TEMPLATE     = "/opt/dagster/ecs/dagster.yaml"
    DAGSTER_POSTGRES_HOST         = var.postgres_host
    DAGSTER_POSTGRES_PORT         = "5432"
    DAGSTER_POSTGRES_USER         = "eventlake"
    DAGSTER_POSTGRES_DB           = "dagster"
    DAGSTER_RUN_TASK_DEFINITION   = "${local.name}-dagster-run"
    DAGSTER_COMPUTE_LOG_BUCKET    = aws_s3_bucket.warehouse.bucket
  } : { name = k, value = v }]

  secret_env = {
    EVENTLAKE_API_KEYS           = var.api_keys_secret_arn
    EVENTLAKE_JOB_DB_URL         = var.job_db_url_secret_arn
    DAGSTER_POSTGRES_PASSWORD    = var.postgres_password_secret_arn
    EVENTLAKE_SNOWFLAKE_PASSWORD = var.snowflake_password_secret_arn
  }

  # task => the entrypoint's role (its command; a Dagster run's command is set by the launcher), task size, IAM
  # role key, the port it serves (0: none)
  tasks = {
    api               = { role = "api", cpu = 1024, memory = 2048, iam = "api", port = 8000 }
    consumer          = { role = "consume", cpu = 2048, memory = 4096, iam = "consumer", port = 0 }
    dagster-webserver = { role = "dagster-webserver", cpu = 512, memory = 2048, iam = "dagster", port = 3000 }
    dagster-daemon    = { role = "dagster-daemon", cpu = 512, memory = 2048, iam = "dagster", port = 0 }
    dagster-run       = { role = null, cpu = 1024, memory = 4096, iam = "dagster-run", port = 0 }
    dashboard         = { role = "dashboard", cpu = 512, memory = 2048, iam = "dashboard", port = 8501 }
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each                 = local.tasks
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = aws_iam_role.execution[each.value.iam].arn
  task_role_arn            = aws_iam_role.task[each.value.iam].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # the root filesystem is read-only: EVENTLAKE_HOME and /tmp are task-local scratch volumes
  volume {
    name = "data"
  }
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    # the EcsRunLauncher starts runs in the container named "run" (deploy/dagster/ecs/dagster.yaml)
    name      = each.key == "dagster-run" ? "run" : each.key
    image     = var.image
    essential = true
    command                = each.value.role == null ? null : [each.value.role]
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    environment            = local.environment
    secrets = [for k, arn in local.secret_env : { name = k, valueFrom = arn } if contains(local.service_secrets[each.value.iam], arn)]
    mountPoints = [
      { sourceVolume = "data", containerPath = "/data", readOnly = false },
      { sourceVolume = "tmp", containerPath = "/tmp", readOnly = false },
    ]
    portMappings = each.value.port == 0 ? [] : [{ name = each.key, containerPort = each.value.port, protocol = "tcp" }]
    healthCheck = each.key == "dagster-run" ? null : {
      command     = ["CMD", "/usr/local/bin/eventlake-entrypoint", "healthcheck"]
      interval    = 30
      timeout     = 10
      retries     = 3
      startPeriod = 120
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

# -- services -------------------------------------------------------------------------------------------------------
locals {
  services = {
    api               = { count = var.api_count, port = 8000 }
    consumer          = { count = var.consumer_count, port = 0 }
    dagster-webserver = { count = 1, port = 3000 }
    # exactly one daemon: two would both dequeue runs
    dagster-daemon = { count = 1, port = 0 }
    dashboard      = { count = 1, port = 8501 }
  }
}

resource "aws_ecs_service" "service" {
  for_each               = local.services
  name                   = each.key
  cluster                = aws_ecs_cluster.eventlake.id
  task_definition        = aws_ecs_task_definition.service[each.key].arn
  desired_count          = each.value.count
  launch_type            = "FARGATE"
  platform_version       = "LATEST"
  enable_execute_command = false
  propagate_tags         = "SERVICE"
  # the API's first health check waits for it to start (imports, the job store, the stream)
  health_check_grace_period_seconds = each.key == "api" ? 120 : null

  # the daemon must never run twice, not even during a deployment
  deployment_maximum_percent         = each.key == "dagster-daemon" ? 100 : 200
  deployment_minimum_healthy_percent = each.key == "dagster-daemon" ? 0 : 100

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.services.id]
    assign_public_ip = false
  }

  service_connect_configuration {
    enabled   = true
    namespace = aws_service_discovery_http_namespace.eventlake.arn

    dynamic "service" {
      for_each = each.value.port == 0 ? [] : [each.key]
      content {
        port_name = service.value
        client_alias {
          dns_name = service.value
          port     = each.value.port
        }
      }
    }
  }

  dynamic "load_balancer" {
    for_each = each.key == "api" ? [1] : []
    content {
      target_group_arn = aws_lb_target_group.api.arn
      container_name   = "api"
      container_port   = 8000
    }
  }

  depends_on = [aws_lb_listener.https]
}

# -- network --------------------------------------------------------------------------------------------------------
resource "aws_security_group" "alb" {
  name        = "${local.name}-alb"
  description = "eventlake API load balancer: HTTPS from the producers"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.api_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from producers"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "to the API tasks"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
}

resource "aws_security_group" "services" {
  name        = "${local.name}-services"
  description = "eventlake ECS tasks"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "services_from_alb" {
  security_group_id            = aws_security_group.services.id
  description                  = "API from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = 8000
  to_port                      = 8000
}

# The rules below alike on purpose: one resource per rule, and ingress and egress are different resource types.
resource "aws_vpc_security_group_ingress_rule" "services_internal" {
  for_each                     = toset(["3000", "8000", "8501"])
  security_group_id            = aws_security_group.services.id
  description                  = "service to service (Service Connect) on ${each.value}"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

resource "aws_vpc_security_group_egress_rule" "services_https" {
  security_group_id = aws_security_group.services.id
  description       = "AWS APIs (Kinesis, S3, Glue, ECS, ECR, Logs, Secrets Manager) and Snowflake"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "services_internal" {
  for_each                     = toset(["3000", "8000", "8501"])
  security_group_id            = aws_security_group.services.id
  description                  = "service to service (Service Connect) on ${each.value}"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = tonumber(each.value)
  to_port                      = tonumber(each.value)
}

resource "aws_vpc_security_group_egress_rule" "services_postgres" {
  security_group_id            = aws_security_group.services.id
  description                  = "Postgres: Dagster storage and the job store"
  referenced_security_group_id = var.postgres_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "postgres_from_services" {
  security_group_id            = var.postgres_security_group_id
  description                  = "eventlake ECS tasks"
  referenced_security_group_id = aws_security_group.services.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}
