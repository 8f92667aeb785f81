# Shared by up.sh and down.sh (sourced, not run): the tools they need, and how they call
# Terraform. The caller sets `infra` (the root module's directory) and `what` (its make target,
# for messages) before sourcing this.
# shellcheck shell=bash disable=SC2034 # approve and extra are used by the scripts that source this

: "${infra:?set by the sourcing script}" "${what:?set by the sourcing script}"
TERRAFORM="${TERRAFORM:-terraform}"
AWS="${AWS:-aws}"

for tool in "$TERRAFORM" "$AWS"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$what: '$tool' not found; install it (terraform >= 1.6, AWS CLI v2) or set TERRAFORM/AWS" >&2; exit 2; }
done

tf() { "$TERRAFORM" -chdir="$infra" "$@"; }
approve=()
[ "${AUTO_APPROVE:-0}" = 1 ] && approve=(-auto-approve)
# shellcheck disable=SC2206 # TF_ARGS is a list of words by design
extra=(${TF_ARGS:-})
