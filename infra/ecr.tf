# The image repository: scanned on push, KMS-encrypted, tags immutable except the moving tags
# App Runner automatic deployments follow, and a lifecycle policy so pushes from CI do not pile up.

resource "aws_ecr_repository" "this" {
  #checkov:skip=CKV_AWS_51:Tags are immutable except the filters in mutable_image_tags (default "latest", the moving tag App Runner automatic deployments follow); checkov 3.3 does not know IMMUTABLE_WITH_EXCLUSION, and infra/tests asserts the two allowed values.
  name         = var.name
  force_delete = var.ecr_force_delete

  image_tag_mutability = length(var.mutable_image_tags) > 0 ? "IMMUTABLE_WITH_EXCLUSION" : "IMMUTABLE"

  dynamic "image_tag_mutability_exclusion_filter" {
    for_each = var.mutable_image_tags
    content {
      filter      = image_tag_mutability_exclusion_filter.value
      filter_type = "WILDCARD"
    }
  }

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.ecr_kms_key_arn
  }

  lifecycle {
    precondition {
      condition     = contains(local.service_regions, var.aws_region)
      error_message = "regions (${join(", ", var.regions)}) must include aws_region (${var.aws_region}), the home region whose repository replicates to the others."
    }
  }
}

# Multi-region: every push to the home repository is copied to the same repository name in each
# other service region, so each service pulls from its own region. ECR has one replication
# configuration per registry (account and region): applying this replaces any other rule there.
# Replication copies only images pushed after it exists; make infra waits for the copies before
# creating the services.
resource "aws_ecr_replication_configuration" "this" {
  count = length(local.replica_regions) > 0 ? 1 : 0

  replication_configuration {
    rule {
      dynamic "destination" {
        for_each = local.replica_regions
        content {
          region      = destination.value
          registry_id = local.account_id
        }
      }

      repository_filter {
        filter      = aws_ecr_repository.this.name
        filter_type = "PREFIX_MATCH"
      }
    }
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name

  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Keep the last ${var.ecr_keep_images} images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.ecr_keep_images
      }
      action = { type = "expire" }
    }]
  })
}
