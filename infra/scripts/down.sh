#!/usr/bin/env bash
# `make infra-destroy`: the inverse of `make infra`, in reverse order:
#   1. remove the service and dashboard (apply with create_service=false), keeping the images;
#   2. if the repository still holds images and ecr_force_delete is off, stop and say so: images
#      are the one thing a destroy cannot give back. DELETE_IMAGES=1 turns force_delete on first
#      (it must be in state before a destroy honours it);
#   3. destroy everything else (repository, roles, OIDC provider if created here).
# Environment: TERRAFORM, AWS, AUTO_APPROVE=1, DELETE_IMAGES=1, TF_ARGS as for up.sh.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
infra="$(dirname "$here")"
what="make infra-destroy"
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$here/common.sh"

echo "==> stage 0: terraform init"
tf init -input=false

echo "==> stage 1: remove the service and dashboard"
tf apply -input=false "${approve[@]}" "${extra[@]}" -var create_service=false

repository_name="$(tf output -raw repository_name)"
region="$(tf output -raw aws_region)"
images="$("$AWS" ecr list-images --region "$region" --repository-name "$repository_name" \
  --query 'length(imageIds)' --output text 2>/dev/null || echo 0)"

force=()
if [ "$(tf output -raw ecr_force_delete)" = true ]; then
  echo "    ecr_force_delete is on: the repository goes with its images"
elif [ "${images:-0}" != 0 ] && [ "$images" != "None" ]; then
  if [ "${DELETE_IMAGES:-0}" = 1 ]; then
    echo "==> stage 2: allow deleting ${repository_name} with its ${images} image(s)"
    tf apply -input=false "${approve[@]}" "${extra[@]}" -var create_service=false -var ecr_force_delete=true
    force=(-var ecr_force_delete=true)
  else
    echo "make infra-destroy: ${repository_name} still holds ${images} image(s); the service is gone, the repository and roles remain." >&2
    echo "  Delete the images, set ecr_force_delete = true, or rerun with DELETE_IMAGES=1." >&2
    exit 1
  fi
fi

echo "==> stage 3: destroy the rest"
tf destroy -input=false "${approve[@]}" "${extra[@]}" -var create_service=false "${force[@]}"
# The peers of a mesh that no longer exists (written by make infra's stage 4).
rm -f "${MESH_VARS:-$infra/mesh.auto.tfvars.json}"
