# What the rest of the project consumes: `make loadtest TARGET=$(terraform -chdir=infra output -raw
# service_url)`, `make push` (repository_url, aws_region, image_tag), and the GitHub repository
# variables of the build-and-push workflow (ci_role_arn, aws_region, repository_url,
# apprunner_service_arn). Service outputs are null until the service stage has run.

output "platform" {
  description = "The platform running the service: apprunner or ecs-express."
  value       = var.platform
}

output "aws_region" {
  description = "Home region: the ECR repository, the dashboard and the service_url service (the workflow's AWS_REGION)."
  value       = var.aws_region
}

output "service_url" {
  description = "HTTPS URL of the service in aws_region (the home region), for `make loadtest TARGET=...`; null before the service stage."
  value       = lookup(local.service_urls, var.aws_region, null)
}

output "service_urls" {
  description = "Map region -> HTTPS URL of every service (one per entry of regions), for `make mesh` and the peer stage of `make infra`; empty before the service stage."
  value       = local.service_urls
}

output "cdn_url" {
  description = "HTTPS URL of the CloudFront distribution in front of the service (make loadtest TARGET=..., make compare between a run against it and one against service_url); null unless cdn_enabled."
  value       = local.deploy_cdn ? "https://${aws_cloudfront_distribution.this[0].domain_name}" : null
}

output "service_regions" {
  description = "Regions that run a service; all but aws_region pull the image from their ECR replica."
  value       = local.service_regions
}

output "repository_url" {
  description = "ECR repository URL (REPOSITORY_URL for `make push`)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_name" {
  description = "ECR repository name (the workflow's ECR_REPOSITORY)."
  value       = aws_ecr_repository.this.name
}

output "ecr_force_delete" {
  description = "Whether destroying the stack also deletes the images (`make infra-destroy` checks it)."
  value       = var.ecr_force_delete
}

output "image_tag" {
  description = "Image tag the service runs (TAG for `make push`)."
  value       = var.image_tag
}

output "ci_role_arn" {
  description = "IAM role GitHub Actions assumes through OIDC (the workflow's AWS_ROLE_ARN)."
  value       = aws_iam_role.ci.arn
}

output "github_oidc_provider_arn" {
  description = "The GitHub OIDC provider the CI role trusts (created here or reused)."
  value       = local.github_oidc_provider_arn
}

output "apprunner_service_arn" {
  description = "App Runner service ARN (the workflow's optional APPRUNNER_SERVICE_ARN); null on ECS or before the service stage."
  value       = try(aws_apprunner_service.this[var.aws_region].arn, null)
}

output "ecs_service_arn" {
  description = "ECS Express service ARN; null on App Runner or before the service stage."
  value       = try(aws_ecs_express_gateway_service.this[var.aws_region].service_arn, null)
}

output "ecs_cluster_name" {
  description = "ECS cluster of the Express service (for `aws ecs update-service --force-new-deployment`); null on App Runner."
  value       = try(aws_ecs_cluster.this[var.aws_region].name, null)
}

output "dashboard_url" {
  description = "CloudWatch dashboard of the platform's metrics; null before the service stage."
  value       = var.create_service ? "https://${var.aws_region}.console.aws.amazon.com/cloudwatch/home?region=${var.aws_region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this[0].dashboard_name}" : null
}

output "legacy_ci_access_key_id" {
  description = "Access key ID of the legacy CI user; null unless create_legacy_ci_user."
  value       = one(aws_iam_access_key.legacy_ci[*].id)
}

output "legacy_ci_secret_access_key" {
  description = "Secret access key of the legacy CI user (sensitive: `terraform output -raw legacy_ci_secret_access_key`); null unless create_legacy_ci_user."
  value       = one(aws_iam_access_key.legacy_ci[*].secret)
  sensitive   = true
}

output "records_buckets" {
  description = "Map region -> S3 bucket holding that region's records (Parquet under records/, Firehose errors under errors/); empty unless records_enabled."
  value       = { for r, b in aws_s3_bucket.records : r => b.bucket }
}

output "records_athena" {
  description = "Where to query the records (aws athena start-query-execution --work-group WORKGROUP --query-execution-context Database=DATABASE): workgroup, database, table, and the named query IDs by SQL file name; null unless records_enabled."
  value = var.records_enabled ? {
    workgroup     = aws_athena_workgroup.records[0].name
    database      = aws_glue_catalog_database.records[0].name
    table         = aws_glue_catalog_table.records[0].name
    named_queries = { for k, q in aws_athena_named_query.records : k => q.id }
  } : null
}
