#!/usr/bin/env bash
# The container commands behind `make buildc`, `make runc` and `make push` (the original
# experiment's workflow), kept in a script so shellcheck reads them and the tests can run
# them against a stand-in `docker`/`aws` (no Docker engine on the development machines).
#
#   container.sh build   docker buildx build for $PLATFORM, tagged $IMAGE; without the buildx
#                        plugin, plain `docker build` for the engine's own platform (what the
#                        original experiment's `make buildc` ran), with a message saying so
#   container.sh run     replace container $CONTAINER, run $IMAGE on $PORT -> 8080, passing
#                        every DELAY_ECHO_* (and RUST_LOG) set in the environment; extra
#                        arguments go to delay-echo
#   container.sh push    log in to ECR through the AWS CLI, tag $IMAGE as
#                        $REPOSITORY_URL:$TAG and push it
#
# Settings come from the environment (the Makefile exports its variables):
#   IMAGE (delay-echo:local) PLATFORM (linux/amd64) CONTAINER (delay-echo) PORT (8080)
#   VERSION REVISION SOURCE (OCI labels) REPOSITORY_URL AWS_REGION TAG (push)
#
# Before asking Docker for anything, each command checks that the CLI is installed and that an
# engine answers, and says what is missing and how to get it instead of docker's own error.
set -euo pipefail

DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-delay-echo:local}
PLATFORM=${PLATFORM:-linux/amd64}
CONTAINER=${CONTAINER:-delay-echo}
PORT=${PORT:-8080}

die() {
  echo "container.sh: $*" >&2
  exit 2
}

# The docker CLI and a running engine, or a message saying which is missing and how to get it.
need_engine() {
  command -v "$DOCKER" >/dev/null 2>&1 ||
    die "the docker CLI ('$DOCKER') is not installed; install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop"
  local err
  if ! err=$("$DOCKER" info --format '{{.ServerVersion}}' 2>&1 >/dev/null); then
    die "no Docker engine is running (docker said: ${err##*$'\n'}); start it (Linux: 'sudo systemctl start docker'; macOS/Windows: open Docker Desktop) or point DOCKER_HOST at one"
  fi
}

has_buildx() {
  "$DOCKER" buildx version >/dev/null 2>&1
}

build() {
  [[ $PLATFORM =~ ^linux/(amd64|arm64)$ ]] ||
    die "PLATFORM '$PLATFORM' is not supported; allowed: linux/amd64, linux/arm64"
  need_engine
  local -a build_args=(
    --build-arg "VERSION=${VERSION:-dev}"
    --build-arg "REVISION=${REVISION:-unknown}"
    --build-arg "SOURCE=${SOURCE:-}"
  )
  if has_buildx; then
    "$DOCKER" buildx build --platform "$PLATFORM" "${build_args[@]}" --load --tag "$IMAGE" "$@" .
  else
    # The classic builder takes no --platform without BuildKit: it builds for the engine's own
    # platform, which is what the original experiment's `docker build` did.
    echo "container.sh: the docker buildx plugin is not installed, so PLATFORM=$PLATFORM cannot be chosen;" \
      "building with plain 'docker build' for this engine's platform. For another platform install buildx" \
      "(Debian/Ubuntu: apt-get install docker-buildx; Docker's packages: docker-buildx-plugin;" \
      "https://docs.docker.com/build/install-buildx/)." >&2
    "$DOCKER" build "${build_args[@]}" --tag "$IMAGE" "$@" .
  fi
}

run() {
  if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    die "PORT '$PORT' is not a TCP port; allowed: 1-65535"
  fi
  need_engine
  local -a env_args=()
  local name
  # `-e NAME` without a value: docker reads the value from this environment, so values with
  # spaces or quotes pass through untouched.
  while IFS= read -r name; do
    env_args+=(-e "$name")
  done < <(compgen -e | grep -E '^(DELAY_ECHO_[A-Z0-9_]+|RUST_LOG)$' || true)
  # Replace a previous container of the same name, running or not.
  "$DOCKER" rm --force "$CONTAINER" >/dev/null 2>&1 || true
  exec "$DOCKER" run --rm --name "$CONTAINER" --publish "$PORT:8080" \
    "${env_args[@]}" "$IMAGE" "$@"
}

push() {
  local url=${REPOSITORY_URL:-}
  local ecr='^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/[a-z0-9]+([._/-][a-z0-9]+)*$'
  [[ -n $url ]] ||
    die "set REPOSITORY_URL=<account>.dkr.ecr.<region>.amazonaws.com/<name> (the Terraform output repository_url)"
  [[ $url =~ $ecr ]] ||
    die "REPOSITORY_URL '$url' is not an ECR repository URL; allowed: <12-digit account>.dkr.ecr.<region>.amazonaws.com/<name>"
  local url_region=${BASH_REMATCH[2]}
  local region=${AWS_REGION:-$url_region}
  [[ $region == "$url_region" ]] ||
    die "AWS_REGION '$region' differs from the repository's region '$url_region'; unset AWS_REGION or make them agree"
  local tag=${TAG:-}
  [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die "TAG '$tag' is not a valid image tag; allowed: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"
  need_engine
  "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 ||
    die "no local image '$IMAGE'; build it first with 'make buildc'"

  local registry=${url%%/*}
  aws ecr get-login-password --region "$region" |
    "$DOCKER" login --username AWS --password-stdin "$registry"
  "$DOCKER" tag "$IMAGE" "$url:$tag"
  "$DOCKER" push "$url:$tag"
  echo "pushed $url:$tag"
}

[[ $# -ge 1 ]] || die "usage: container.sh build|run|push [ARGS...]"
cmd=$1
shift
case "$cmd" in
  build) build "$@" ;;
  run) run "$@" ;;
  push) push ;;
  *) die "unknown command '$cmd'; allowed: build, run, push" ;;
esac
