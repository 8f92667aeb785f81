# Amazon ECS Express Mode: the platform AWS recommends now that App Runner is closed to new
# customers. ECS creates the load balancer, target group, security groups, certificate and the
# target-tracking scaling policy itself; this file supplies the roles, a cluster, a log group
# with a retention, and the same image, port, environment and /readyz check as App Runner.

resource "aws_ecs_cluster" "this" {
  for_each = local.is_ecs ? toset(local.service_regions) : toset([])

  region = each.key
  name   = local.ecs_cluster_name

  # Container Insights publishes RunningTaskCount per service, which the dashboard plots.
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_cloudwatch_log_group" "ecs" {
  for_each = local.is_ecs ? toset(local.service_regions) : toset([])

  #checkov:skip=CKV_AWS_338:Study logs are short-lived; retention is the ecs_log_retention_days variable (default 30 days), not a year.
  #checkov:skip=CKV_AWS_158:The logs hold request metadata of a synthetic echo service; CloudWatch's default encryption at rest suffices and a CMK would add cost and key policy for nothing.
  region            = each.key
  name              = "/ecs/${var.name}"
  retention_in_days = var.ecs_log_retention_days
}

resource "aws_ecs_express_gateway_service" "this" {
  for_each = local.deploy_ecs ? toset(local.service_regions) : toset([])

  region                  = each.key
  service_name            = var.name
  cluster                 = aws_ecs_cluster.this[each.key].name
  execution_role_arn      = aws_iam_role.ecs_execution[0].arn
  infrastructure_role_arn = aws_iam_role.ecs_infrastructure[0].arn
  cpu                     = tostring(var.ecs_task_size.cpu)
  memory                  = tostring(var.ecs_task_size.memory)
  health_check_path       = "/readyz"
  wait_for_steady_state   = true

  primary_container {
    image          = local.image_uris[each.key]
    container_port = local.container_port

    aws_logs_configuration {
      log_group         = aws_cloudwatch_log_group.ecs[each.key].name
      log_stream_prefix = var.name
    }

    dynamic "environment" {
      for_each = merge(local.environment, local.region_environment[each.key])
      content {
        name  = environment.key
        value = environment.value
      }
    }
  }

  dynamic "network_configuration" {
    for_each = length(var.ecs_subnet_ids) > 0 ? [var.ecs_subnet_ids] : []
    content {
      subnets         = network_configuration.value
      security_groups = var.ecs_security_group_ids
    }
  }

  scaling_target {
    auto_scaling_metric       = var.ecs_scaling_metric
    auto_scaling_target_value = var.ecs_scaling_target_value
    min_task_count            = var.ecs_min_tasks
    max_task_count            = var.ecs_max_tasks
  }

  lifecycle {
    precondition {
      condition     = var.ecs_min_tasks <= var.ecs_max_tasks
      error_message = "ecs_min_tasks (${var.ecs_min_tasks}) must not exceed ecs_max_tasks (${var.ecs_max_tasks})."
    }

    precondition {
      condition     = var.ecs_scaling_metric == "REQUEST_COUNT_PER_TARGET" || var.ecs_scaling_target_value <= 100
      error_message = "ecs_scaling_target_value is a percentage for ${var.ecs_scaling_metric}: use 1-100."
    }

    precondition {
      condition     = data.aws_ecr_image.service[each.key].image_digest != ""
      error_message = "The repository holds no image tagged ${var.image_tag}; push it first (make infra does)."
    }
  }

  # Keep the roles until the service has drained on destroy; without the ordering the service can
  # hang in DRAINING once its infrastructure role lost its policy.
  depends_on = [
    aws_iam_role_policy_attachment.ecs_execution,
    aws_iam_role_policy_attachment.ecs_infrastructure,
    aws_iam_role_policy.pull_kms,
  ]
}
