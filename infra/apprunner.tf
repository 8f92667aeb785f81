# App Runner: the original experiment's platform. Every named autoscaling configuration is
# created (switching is then a one-variable change), the service runs the ECR image on 8080 with
# an HTTP health check on /readyz, and X-Ray is optional.

resource "aws_apprunner_auto_scaling_configuration_version" "this" {
  # Regional: one of each named configuration per service region, keyed "region/name".
  for_each = local.is_apprunner ? {
    for pair in setproduct(local.service_regions, keys(var.apprunner_autoscaling_configurations)) :
    "${pair[0]}/${pair[1]}" => merge(var.apprunner_autoscaling_configurations[pair[1]], { region = pair[0], key = pair[1] })
  } : {}

  region                          = each.value.region
  auto_scaling_configuration_name = "${var.name}-${each.value.key}"
  max_concurrency                 = each.value.max_concurrency
  min_size                        = each.value.min_size
  max_size                        = each.value.max_size

  lifecycle {
    # Every field forces a new version; the service must switch to the new one before the old
    # one can go, or AWS refuses to delete a configuration in use.
    create_before_destroy = true

    precondition {
      condition     = length("${var.name}-${each.value.key}") <= 32
      error_message = "App Runner autoscaling configuration names are limited to 32 characters; shorten name or the key \"${each.value.key}\"."
    }
  }
}

resource "aws_apprunner_observability_configuration" "this" {
  for_each = local.is_apprunner && var.apprunner_xray ? toset(local.service_regions) : toset([])

  region                           = each.key
  observability_configuration_name = "${var.name}-xray"

  trace_configuration {
    vendor = "AWSXRAY"
  }
}

resource "aws_apprunner_service" "this" {
  for_each = local.deploy_apprunner ? toset(local.service_regions) : toset([])

  region                         = each.key
  service_name                   = var.name
  auto_scaling_configuration_arn = try(aws_apprunner_auto_scaling_configuration_version.this["${each.key}/${var.apprunner_autoscaling_configuration}"].arn, null)

  source_configuration {
    auto_deployments_enabled = var.apprunner_auto_deployments

    authentication_configuration {
      access_role_arn = aws_iam_role.apprunner_ecr_access[0].arn
    }

    image_repository {
      image_identifier      = local.image_uris[each.key]
      image_repository_type = "ECR"

      image_configuration {
        port                          = tostring(local.container_port)
        runtime_environment_variables = merge(local.environment, local.region_environment[each.key])
      }
    }
  }

  instance_configuration {
    cpu               = local.apprunner_cpu
    memory            = local.apprunner_memory
    instance_role_arn = one(aws_iam_role.apprunner_instance[*].arn)
  }

  health_check_configuration {
    protocol            = "HTTP"
    path                = "/readyz"
    interval            = var.apprunner_health_check_interval
    timeout             = var.apprunner_health_check_timeout
    healthy_threshold   = var.apprunner_health_check_healthy_threshold
    unhealthy_threshold = var.apprunner_health_check_unhealthy_threshold
  }

  network_configuration {
    ingress_configuration {
      is_publicly_accessible = true
    }
    egress_configuration {
      egress_type = "DEFAULT"
    }
  }

  dynamic "observability_configuration" {
    for_each = var.apprunner_xray ? [aws_apprunner_observability_configuration.this[each.key].arn] : []
    content {
      observability_enabled           = true
      observability_configuration_arn = observability_configuration.value
    }
  }

  lifecycle {
    precondition {
      condition     = contains(keys(var.apprunner_autoscaling_configurations), var.apprunner_autoscaling_configuration)
      error_message = "apprunner_autoscaling_configuration \"${var.apprunner_autoscaling_configuration}\" is not a key of apprunner_autoscaling_configurations (${join(", ", keys(var.apprunner_autoscaling_configurations))})."
    }

    precondition {
      condition     = data.aws_ecr_image.service[each.key].image_digest != ""
      error_message = "The repository holds no image tagged ${var.image_tag}; push it first (make infra does)."
    }
  }

  # The access role must be able to pull before App Runner tries the first deployment.
  depends_on = [aws_iam_role_policy_attachment.apprunner_ecr_access, aws_iam_role_policy.pull_kms]
}
