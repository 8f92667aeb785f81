#!/usr/bin/env bash
# `make infra`: take an AWS account from empty to a running delay-echo service in three stages,
# none of which is expected to fail:
#   1. bootstrap: apply with create_service=false (ECR repository, IAM roles, OIDC provider,
#      autoscaling configurations / cluster / log group), so nothing pulls from an empty repository
#      (skipped when the service already exists: re-running make infra updates in place);
#   2. image: build and push image_tag with `make buildc push` unless the repository already has it;
#      with several regions, wait until ECR replication has copied the image to each of them;
#   3. service: apply with create_service=true (one service per region, dashboard);
#   4. peers, with several regions only: write the service_urls output to mesh.auto.tfvars.json
#      (variable peer_urls, which Terraform loads on every later apply too) and apply again, so
#      every service gets the others as DELAY_ECHO_PEERS. The URLs exist only after stage 3.
# The original experiment applied everything at once and its first apply always failed because
# the service pointed at an empty repository.
#
# Environment: TERRAFORM (default terraform), AWS (default aws), MAKE (default make),
# AUTO_APPROVE=1 to skip Terraform's confirmation, FORCE_PUSH=1 to rebuild and push even when the
# tag exists (only for a mutable tag such as latest), TF_ARGS for extra apply arguments
# (e.g. -var-file=study.tfvars), REPLICATION_TIMEOUT (seconds to wait for the image in the other
# regions, default 600), MESH_VARS (where stage 4 writes the peers, default
# infra/mesh.auto.tfvars.json).
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
# The regions come from the configuration (like the tag below), not from the state.
read -r -a regions <<<"$(echo 'join(" ", local.service_regions)' | tf console "${extra[@]}" | tr -d '"')"

if tf state list 2>/dev/null | grep -Eq '^(aws_apprunner_service|aws_ecs_express_gateway_service)\.this\['; then
  echo "==> stage 1: skipped (the service exists, so the repository and roles do too)"
  if [ "${#regions[@]}" -gt 1 ]; then
    # Regions may have been added since: the replication rule must cover them before the push.
    echo "    updating the ECR replication rule for: ${regions[*]}"
    tf apply -input=false "${approve[@]}" "${extra[@]}" -var create_service=true -target=aws_ecr_replication_configuration.this
  fi
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

# Replication is asynchronous; a service created before its region's copy exists would fail.
timeout="${REPLICATION_TIMEOUT:-600}"
poll="${REPLICATION_POLL:-10}"
for r in "${regions[@]}"; do
  [ "$r" = "$region" ] && continue
  waited=0
  until "$AWS" ecr describe-images --region "$r" --repository-name "$repository_name" \
          --image-ids "imageTag=$tag" >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout" ]; then
      echo "make infra: ${repository_name}:${tag} has not reached ${r} after ${waited}s." >&2
      echo "  ECR replicates only images pushed after the replication rule existed: push a new tag" >&2
      echo "  (set image_tag, e.g. TF_ARGS=-var=image_tag=v2) and rerun make infra." >&2
      exit 1
    fi
    sleep "$poll"
    waited=$((waited + poll))
  done
  echo "    ${tag} replicated to ${r}"
done

echo "==> stage 3: service and dashboard"
tf apply -input=false "${approve[@]}" "${extra[@]}" -var create_service=true

if [ "${#regions[@]}" -gt 1 ]; then
  echo "==> stage 4: peers (every service gets the others' URLs)"
  mesh_vars="${MESH_VARS:-$infra/mesh.auto.tfvars.json}"
  printf '{"peer_urls": %s}\n' "$(tf output -json service_urls)" >"$mesh_vars"
  tf apply -input=false "${approve[@]}" "${extra[@]}" -var create_service=true
fi

echo "==> done"
echo "service_url:   $(tf output -raw service_url)"
echo "dashboard_url: $(tf output -raw dashboard_url)"
echo "load test:     make loadtest TARGET=\$(terraform -chdir=infra output -raw service_url)"
[ "${#regions[@]}" -gt 1 ] && echo "service_urls:  $(tf output -json service_urls)"
exit 0
