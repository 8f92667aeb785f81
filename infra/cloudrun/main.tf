# delay-echo on Cloud Run: an Artifact Registry repository for the image, a service account with
# no roles (the service calls no Google API), and a google_cloud_run_v2_service that scales on
# request concurrency, probes /readyz at startup and /healthz while it runs.

locals {
  container_port = 8080
  repository_url = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.this.repository_id}"
  image          = "${local.repository_url}/${var.name}:${var.image_tag}"
}

resource "google_artifact_registry_repository" "this" {
  #checkov:skip=CKV_GCP_84:The images of a public echo service hold no secrets; Google-managed encryption at rest applies, and a customer key would need a key ring and a service-agent grant this study stack does not own.
  repository_id = var.name
  location      = var.region
  format        = "DOCKER"
  description   = "delay-echo images for the Cloud Run service"

  vulnerability_scanning_config {
    enablement_config = "INHERITED"
  }
}

resource "google_service_account" "run" {
  account_id   = var.name
  display_name = "delay-echo Cloud Run service (no roles: the service calls no Google API)"
}

# Guard for a plain `terraform apply` on a fresh project: reading the image fails fast with "not
# found" before a service is created against an empty repository (the AWS stack does the same).
data "google_artifact_registry_docker_image" "service" {
  count = var.create_service ? 1 : 0

  location      = var.region
  repository_id = google_artifact_registry_repository.this.repository_id
  image_name    = "${var.name}:${var.image_tag}"
}

resource "google_cloud_run_v2_service" "this" {
  count = var.create_service ? 1 : 0

  name                = var.name
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false # a study stack: `terraform destroy` must be able to remove it

  template {
    service_account                  = google_service_account.run.email
    max_instance_request_concurrency = var.max_concurrency
    timeout                          = "${var.request_timeout_seconds}s"

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    containers {
      # A new tag is a new revision; re-pushing the same tag is not (use a tag per build).
      image = local.image

      ports {
        container_port = local.container_port
      }

      resources {
        limits = {
          cpu    = var.resources.cpu
          memory = var.resources.memory
        }
        # cpu_idle = true is request-based allocation: CPU only while a request is in flight.
        # false keeps CPU allocated for the instance's life (see README, "CPU allocation").
        cpu_idle          = var.cpu_allocation == "request"
        startup_cpu_boost = true
      }

      # The region is Terraform's to say: Cloud Run offers it only on the metadata server, which
      # the service does not call at start-up. service_environment may override it.
      dynamic "env" {
        for_each = merge({ DELAY_ECHO_REGION = var.region }, var.service_environment)
        content {
          name  = env.key
          value = env.value
        }
      }

      # Traffic arrives only after /readyz answers 200; up to 30 s for a cold start.
      startup_probe {
        period_seconds    = 1
        timeout_seconds   = 1
        failure_threshold = 30

        http_get {
          path = "/readyz"
          port = local.container_port
        }
      }

      # /healthz answers while the process lives, also while draining, so a drain is never
      # mistaken for a hang and restarted.
      liveness_probe {
        period_seconds    = 10
        timeout_seconds   = 2
        failure_threshold = 3

        http_get {
          path = "/healthz"
          port = local.container_port
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = data.google_artifact_registry_docker_image.service[0].self_link != ""
      error_message = "The repository holds no image ${local.image}; push it first (see README)."
    }

    precondition {
      condition     = var.min_instances <= var.max_instances
      error_message = "min_instances (${var.min_instances}) must not exceed max_instances (${var.max_instances})."
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  count = var.create_service && var.allow_unauthenticated ? 1 : 0

  project  = var.project_id
  location = var.region
  name     = google_cloud_run_v2_service.this[0].name
  role     = "roles/run.invoker"
  member   = "allUsers"
}
