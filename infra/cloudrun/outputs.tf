# What the rest of the project consumes: `make loadtest TARGET=$(terraform -chdir=infra/cloudrun
# output -raw service_url)`, and `make push REPOSITORY_URL=...` for the image.

output "service_url" {
  description = "HTTPS URL of the service, for `make loadtest TARGET=...`; null before the service stage."
  value       = one(google_cloud_run_v2_service.this[*].uri)
}

output "repository_url" {
  description = "Artifact Registry repository (REPOSITORY_URL for `make push`; log in with `gcloud auth configure-docker REGION-docker.pkg.dev`)."
  value       = local.repository_url
}

output "image" {
  description = "Image reference by tag that the service runs."
  value       = local.image
}

output "region" {
  description = "Region of the repository and the service."
  value       = var.region
}
