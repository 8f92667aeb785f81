# A CloudWatch dashboard of the platform's own metrics, so a load test can be read next to what
# the platform saw: requests and 2xx/4xx/5xx, latency p50/p95/p99, instances or tasks, App Runner
# concurrency, CPU and memory. One-minute periods: App Runner publishes per minute.

locals {
  dashboard_name = "${var.name}-${var.platform}"
  period         = 60

  # ---- App Runner: AWS/AppRunner, dimensions ServiceName + ServiceID ----
  apprunner_dims = local.deploy_apprunner ? ["ServiceName", var.name, "ServiceID", aws_apprunner_service.this[var.aws_region].service_id] : []

  apprunner_widgets = [
    {
      title = "Requests and responses (per minute)"
      metrics = [
        concat(["AWS/AppRunner", "Requests"], local.apprunner_dims, [{ stat = "Sum", label = "requests" }]),
        concat(["AWS/AppRunner", "2xxStatusResponses"], local.apprunner_dims, [{ stat = "Sum", label = "2xx" }]),
        concat(["AWS/AppRunner", "4xxStatusResponses"], local.apprunner_dims, [{ stat = "Sum", label = "4xx" }]),
        concat(["AWS/AppRunner", "5xxStatusResponses"], local.apprunner_dims, [{ stat = "Sum", label = "5xx" }]),
      ]
    },
    {
      title = "Request latency (ms)"
      metrics = [
        for p in ["p50", "p95", "p99"] :
        concat(["AWS/AppRunner", "RequestLatency"], local.apprunner_dims, [{ stat = p, label = p }])
      ]
    },
    {
      title = "Active instances"
      metrics = [
        concat(["AWS/AppRunner", "ActiveInstances"], local.apprunner_dims, [{ stat = "Maximum", label = "active instances" }]),
      ]
    },
    {
      title = "Concurrency (requests in flight, all instances)"
      metrics = [
        concat(["AWS/AppRunner", "Concurrency"], local.apprunner_dims, [{ stat = "Maximum", label = "max" }]),
        concat(["AWS/AppRunner", "Concurrency"], local.apprunner_dims, [{ stat = "Average", label = "average" }]),
      ]
    },
    {
      title = "CPU and memory (%)"
      metrics = [
        concat(["AWS/AppRunner", "CPUUtilization"], local.apprunner_dims, [{ stat = "Average", label = "CPU" }]),
        concat(["AWS/AppRunner", "MemoryUtilization"], local.apprunner_dims, [{ stat = "Average", label = "memory" }]),
      ]
    },
  ]

  # ---- ECS Express: the ALB that Express Mode creates, plus AWS/ECS and Container Insights ----
  # The load balancer is created by ECS, not Terraform, so its dimensions are unknown here; SEARCH
  # finds them, narrowed to one target group once dashboard_alb_target_group is set.
  alb_filter   = var.dashboard_alb_target_group == "" ? "" : " TargetGroup=\"${var.dashboard_alb_target_group}\""
  alb_tg_space = "{AWS/ApplicationELB,LoadBalancer,TargetGroup}"
  ecs_dims     = ["ClusterName", local.ecs_cluster_name, "ServiceName", var.name]

  ecs_widgets = [
    {
      title = "Requests and responses (per minute, from the load balancer)"
      metrics = [
        for i, m in ["RequestCount", "HTTPCode_Target_2XX_Count", "HTTPCode_Target_4XX_Count", "HTTPCode_Target_5XX_Count"] : [{
          id         = "m${i}"
          expression = "SEARCH('${local.alb_tg_space} MetricName=\"${m}\"${local.alb_filter}', 'Sum', ${local.period})"
          label      = ["requests", "2xx", "4xx", "5xx"][i]
        }]
      ]
    },
    {
      title = "Target response time (seconds)"
      metrics = [
        for i, p in ["p50", "p95", "p99"] : [{
          id         = "l${i}"
          expression = "SEARCH('${local.alb_tg_space} MetricName=\"TargetResponseTime\"${local.alb_filter}', '${p}', ${local.period})"
          label      = p
        }]
      ]
    },
    {
      title = "Running tasks"
      metrics = [
        concat(["ECS/ContainerInsights", "RunningTaskCount"], local.ecs_dims, [{ stat = "Maximum", label = "running" }]),
        concat(["ECS/ContainerInsights", "DesiredTaskCount"], local.ecs_dims, [{ stat = "Maximum", label = "desired" }]),
      ]
    },
    {
      title = "CPU and memory (%, the scaling metric's source)"
      metrics = [
        concat(["AWS/ECS", "CPUUtilization"], local.ecs_dims, [{ stat = "Average", label = "CPU" }]),
        concat(["AWS/ECS", "MemoryUtilization"], local.ecs_dims, [{ stat = "Average", label = "memory" }]),
      ]
    },
  ]

  # The two lists have different shapes, which a conditional cannot unify; their JSON can.
  graph_widgets = jsondecode(local.is_apprunner ? jsonencode(local.apprunner_widgets) : jsonencode(local.ecs_widgets))

  header = local.is_apprunner ? (
    "## ${var.name} on App Runner\nAutoscaling configuration **${var.apprunner_autoscaling_configuration}**, instance ${var.apprunner_instance.cpu} vCPU / ${var.apprunner_instance.memory} GB, image tag `${var.image_tag}`."
    ) : (
    "## ${var.name} on ECS Express Mode\nScaling on **${var.ecs_scaling_metric}** at ${var.ecs_scaling_target_value}, ${var.ecs_min_tasks}-${var.ecs_max_tasks} tasks of ${var.ecs_task_size.cpu} CPU units / ${var.ecs_task_size.memory} MiB, image tag `${var.image_tag}`."
  )

  dashboard_widgets = concat(
    [{
      type       = "text"
      x          = 0
      y          = 0
      width      = 24
      height     = 2
      properties = { markdown = local.header }
    }],
    [
      for i, w in local.graph_widgets : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = 2 + floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = w.title
          region  = var.aws_region
          view    = "timeSeries"
          stacked = false
          period  = local.period
          metrics = w.metrics
        }
      }
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_service ? 1 : 0

  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
