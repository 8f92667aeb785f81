#!/usr/bin/env bash
# `make infra`: take an AWS account from empty to a running delay-echo service in three stages,
# none of which is expected to fail:
#   1. bootstrap: apply with create_service=false (ECR repository, IAM roles, OIDC provider,
#      autoscaling configurations / cluster / log group), so nothing pulls from an empty repository
#      (skipped when the service already exists: re-running make infra updates in place);
#   2. image: build and push image_tag with `make buildc push` unless the repository already has it;
#   3. service: apply with create_service=true (service and dashboard), then print the outputs.
# The original experiment applied everything at once and its first apply always failed because
# the service pointed at an empty repository.
#
# Environment: TERRAFORM (default terraform), AWS (default aws), MAKE (default make),
# AUTO_APPROVE=1 to skip Terraform's confirmation, FORCE_PUSH=1 to rebuild and push even when the
# tag exists (only for a mutable tag such as latest), TF_ARGS for extra apply arguments
# (e.g. -var-file=study.tfvars).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
infra="$(dirname "$here")"
root="$(dirname "$infra")"
MAKE="${MAKE:-make}"
what="make infra"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"
if [ ! -f "$infra/terraform.tfvars" ] && [[ "${TF_ARGS:-}" != *-var* ]] && [ -z "${TF_VAR_github_subjects:-}" ]; then
  echo "make infra: no infra/terraform.tfvars; copy infra/terraform.tfvars.example and set github_subjects (or pass TF_ARGS=-var-file=...)" >&2
  exit 2
fi

echo "==> stage 0: terraform init"
tf init -input=false

# On a re-run the service already exists: applying create_service=false now would tear it down,
# and the bootstrap resources are in place anyway, so go straight to the image.
if tf state list 2>/dev/null | grep -Eq '^(aws_apprunner_service|aws_ecs_express_gateway_service)\.this\['; then
  echo "==> stage 1: skipped (the service exists, so the repository and roles do too)"
else
  echo "==> stage 1: bootstrap (repository, roles; no service)"
  tf apply -input=false "${approve[@]}" "${extra[@]}" -var create_service=false
fi

repository_url="$(tf output -raw repository_url)"
repository_name="$(tf output -raw repository_name)"
region="$(tf output -raw aws_region)"
# The tag comes from the configuration, not the state: on a re-run with a new image_tag the
# state still holds the old one.
tag="$(echo 'var.image_tag' | tf console "${extra[@]}" | tr -d '"')"

echo "==> stage 2: image ${repository_url}:${tag}"
if [ "${FORCE_PUSH:-0}" != 1 ] && "$AWS" ecr describe-images --region "$region" \
     --repository-name "$repository_name" --image-ids "imageTag=$tag" >/dev/null 2>&1; then
  echo "    the repository already holds ${tag}; not rebuilding (FORCE_PUSH=1 to rebuild a mutable tag)"
else
  "$MAKE" -C "$root" buildc push REPOSITORY_URL="$repository_url" AWS_REGION="$region" TAG="$tag"
fi

echo "==> stage 3: service and dashboard"
tf apply -input=false "${approve[@]}" "${extra[@]}" -var create_service=true

echo "==> done"
echo "service_url:   $(tf output -raw service_url)"
echo "dashboard_url: $(tf output -raw dashboard_url)"
echo "load test:     make loadtest TARGET=\$(terraform -chdir=infra output -raw service_url)"
