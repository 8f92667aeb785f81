# Shared values of the stack: which platform is active, the image every platform runs, the
# environment it gets, and ARNs built from names so IAM can be scoped to a service before it
# exists (the CI role is created in the bootstrap stage, ahead of the service).

locals {
  is_apprunner = var.platform == "apprunner"
  is_ecs       = var.platform == "ecs-express"

  deploy_apprunner = var.create_service && local.is_apprunner
  deploy_ecs       = var.create_service && local.is_ecs

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  # The same repository name in every service region: ECR replication creates the replicas.
  image_uris = {
    for r in local.service_regions :
    r => "${local.account_id}.dkr.ecr.${r}.${data.aws_partition.current.dns_suffix}/${aws_ecr_repository.this.name}:${var.image_tag}"
  }
  container_port = 8080

  # PORT is set explicitly although App Runner does not set it: the binary honours PORT, so the
  # listener and the platform's probe agree on 8080 whatever the image's defaults become.
  # With records_enabled the access log is on whatever service_environment says: the records
  # pipeline has nothing to carry otherwise.
  environment = merge(var.service_environment, local.records_environment, { PORT = tostring(local.container_port) })

  # App Runner ARNs end in a random service ID, hence the wildcard after the (unique) name.
  apprunner_service_arns = [for r in local.service_regions : "arn:${local.partition}:apprunner:${r}:${local.account_id}:service/${var.name}/*"]
  ecs_cluster_name       = var.name
  ecs_service_arns       = [for r in local.service_regions : "arn:${local.partition}:ecs:${r}:${local.account_id}:service/${local.ecs_cluster_name}/${var.name}"]

  # Region -> URL of every service; ECS Express reports its endpoint with or without the scheme.
  service_urls = merge(
    { for r, s in aws_apprunner_service.this : r => "https://${s.service_url}" },
    {
      for r, s in aws_ecs_express_gateway_service.this :
      r => startswith(s.ingress_paths[0].endpoint, "https://") ? s.ingress_paths[0].endpoint : "https://${s.ingress_paths[0].endpoint}"
    },
  )

  # App Runner takes sizes as CPU units and MiB; the variable speaks vCPU and GB like the console.
  apprunner_cpu    = tostring(var.apprunner_instance.cpu * 1024)
  apprunner_memory = tostring(var.apprunner_instance.memory * 1024)
}

# Guard for a plain `terraform apply` on a fresh account: the service must not be created against
# an empty repository (the original experiment's first apply always failed that way). Reading the
# image fails fast with "image not found" before any service exists; `make infra` pushes first
# and waits until replication has copied the image to every other service region.
data "aws_ecr_image" "service" {
  for_each = var.create_service ? toset(local.service_regions) : toset([])

  region          = each.key
  repository_name = aws_ecr_repository.this.name
  image_tag       = var.image_tag
}
