# Identities of the stack, each with the least it needs:
# - the App Runner ECR access role (pull only, AWS's managed policy for exactly that),
# - the App Runner instance role, only when X-Ray is on (write traces),
# - the ECS Express execution and infrastructure roles,
# - the GitHub OIDC provider and the CI role that pushes to this one repository and redeploys
#   this one service, trusted only for the listed subjects,
# - the original experiment's IAM user with an access key, only behind create_legacy_ci_user.
# The CI permissions live in one policy document shared by the role and the legacy user.

# ---------------------------------------------------------------------------------------------
# App Runner
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "apprunner_build_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["build.apprunner.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apprunner_ecr_access" {
  count = local.is_apprunner ? 1 : 0

  name               = "${var.name}-apprunner-ecr-access"
  description        = "Lets App Runner pull the ${var.name} image from ECR."
  assume_role_policy = data.aws_iam_policy_document.apprunner_build_trust.json
}

resource "aws_iam_role_policy_attachment" "apprunner_ecr_access" {
  count = local.is_apprunner ? 1 : 0

  role       = aws_iam_role.apprunner_ecr_access[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSAppRunnerServicePolicyForECRAccess"
}

data "aws_iam_policy_document" "apprunner_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["tasks.apprunner.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apprunner_instance" {
  count = local.is_apprunner && var.apprunner_xray ? 1 : 0

  name               = "${var.name}-apprunner-instance"
  description        = "Lets the ${var.name} App Runner instances send X-Ray traces."
  assume_role_policy = data.aws_iam_policy_document.apprunner_tasks_trust.json
}

resource "aws_iam_role_policy_attachment" "apprunner_instance_xray" {
  count = local.is_apprunner && var.apprunner_xray ? 1 : 0

  role       = aws_iam_role.apprunner_instance[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"
}

# ---------------------------------------------------------------------------------------------
# ECS Express Mode
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ecs_execution" {
  count = local.is_ecs ? 1 : 0

  name               = "${var.name}-ecs-execution"
  description        = "Lets ECS pull the ${var.name} image and write its logs."
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

resource "aws_iam_role_policy_attachment" "ecs_execution" {
  count = local.is_ecs ? 1 : 0

  role       = aws_iam_role.ecs_execution[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "ecs_infrastructure_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ecs_infrastructure" {
  count = local.is_ecs ? 1 : 0

  name               = "${var.name}-ecs-infrastructure"
  description        = "Lets ECS Express Mode manage the load balancer, target groups, security groups and scaling of ${var.name}."
  assume_role_policy = data.aws_iam_policy_document.ecs_infrastructure_trust.json
}

resource "aws_iam_role_policy_attachment" "ecs_infrastructure" {
  count = local.is_ecs ? 1 : 0

  role       = aws_iam_role.ecs_infrastructure[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSInfrastructureRoleforExpressGatewayServices"
}

# ---------------------------------------------------------------------------------------------
# Image pulls with a customer-managed key: the managed pull policies above do not cover KMS.
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "ecr_kms_decrypt" {
  count = var.ecr_kms_key_arn == null ? 0 : 1

  statement {
    sid       = "DecryptImageLayers"
    actions   = ["kms:Decrypt"]
    resources = [var.ecr_kms_key_arn]
  }
}

resource "aws_iam_role_policy" "pull_kms" {
  count = var.ecr_kms_key_arn == null ? 0 : 1

  name = "ecr-kms-decrypt"
  # Exactly one of the two pull roles exists, depending on the platform.
  role   = one(concat(aws_iam_role.apprunner_ecr_access[*].id, aws_iam_role.ecs_execution[*].id))
  policy = data.aws_iam_policy_document.ecr_kms_decrypt[0].json
}

# ---------------------------------------------------------------------------------------------
# GitHub Actions: OIDC provider and the CI role
# ---------------------------------------------------------------------------------------------

resource "aws_iam_openid_connect_provider" "github" {
  count = var.github_oidc_provider_arn == null ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # No thumbprint_list: IAM validates GitHub's certificate through its own trusted CAs.
}

locals {
  github_oidc_provider_arn = coalesce(var.github_oidc_provider_arn, try(aws_iam_openid_connect_provider.github[0].arn, null))
}

data "aws_iam_policy_document" "ci_trust" {
  statement {
    sid     = "GitHubActionsOIDC"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # StringLike so a subject may end in a wildcard (e.g. ...:ref:refs/tags/v*); the variable's
    # validation keeps organisation and repository literal.
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = var.github_subjects
    }
  }
}

data "aws_iam_policy_document" "ci" {
  statement {
    sid = "EcrLogin"
    # GetAuthorizationToken has no resource-level permissions; it only yields a login that the
    # repository-scoped statement below still limits.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PushToThisRepository"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [aws_ecr_repository.this.arn]
  }

  dynamic "statement" {
    for_each = local.is_apprunner ? [1] : []
    content {
      sid = "DeployThisAppRunnerService"
      actions = [
        "apprunner:DescribeService",
        "apprunner:ListOperations",
        "apprunner:StartDeployment",
      ]
      resources = local.apprunner_service_arns
    }
  }

  dynamic "statement" {
    for_each = local.is_ecs ? [1] : []
    content {
      # Express services are ECS services: a forced new deployment re-resolves the image tag.
      sid = "DeployThisEcsService"
      actions = [
        "ecs:DescribeExpressGatewayService",
        "ecs:DescribeServices",
        "ecs:UpdateService",
      ]
      resources = local.ecs_service_arns
    }
  }
}

resource "aws_iam_role" "ci" {
  name                 = "${var.name}-github-ci"
  description          = "Assumed by GitHub Actions (OIDC) to push ${var.name} images and redeploy the service."
  assume_role_policy   = data.aws_iam_policy_document.ci_trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "ci" {
  name   = "push-and-deploy"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci.json
}

# ---------------------------------------------------------------------------------------------
# Legacy: the original experiment's CI user with a long-lived key. Opt-in only.
# ---------------------------------------------------------------------------------------------

resource "aws_iam_user" "legacy_ci" {
  count = var.create_legacy_ci_user ? 1 : 0

  #checkov:skip=CKV_AWS_273:Opt-in legacy path (create_legacy_ci_user, default false) kept for CI systems without OIDC; the OIDC role is the supported path.
  name = "${var.name}-legacy-ci"
}

resource "aws_iam_user_policy" "legacy_ci" {
  count = var.create_legacy_ci_user ? 1 : 0

  #checkov:skip=CKV_AWS_40:The legacy user exists alone for one CI system; a group for a single opt-in user adds nothing.
  name   = "push-and-deploy"
  user   = aws_iam_user.legacy_ci[0].name
  policy = data.aws_iam_policy_document.ci.json
}

resource "aws_iam_access_key" "legacy_ci" {
  count = var.create_legacy_ci_user ? 1 : 0

  user = aws_iam_user.legacy_ci[0].name
}
