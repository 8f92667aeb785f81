#!/usr/bin/env bash
# The container commands behind `make buildc`, `make runc`, `make stopc` and `make push`, kept
# in a script so shellcheck reads them and the tests can run them (against a stand-in `docker`
# and `aws` for the Docker paths; against the real Podman for the Podman paths).
#
#   container.sh build   build the Dockerfile, tagged $IMAGE, with the engine below, by one of
#                        two paths, and say which:
#                        - full: the whole multi-stage build, when the Dockerfile's base image
#                          is present or can be pulled (Docker: buildx for $PLATFORM, or plain
#                          `docker build` without the buildx plugin);
#                        - offline: otherwise (or BUILD=offline): the binary is built on this
#                          machine by scripts/image/build-static.sh on a copy of the build
#                          context (.dockerignore applied), exactly as the builder stage runs
#                          it, and handed to the same Dockerfile as the named build context
#                          `builder` (`--build-context builder=DIR`), which replaces that stage:
#                          the base image is never pulled. This machine's platform only.
#   container.sh run     replace container $CONTAINER and run $IMAGE read-only (as the image's
#                        own user) in the foreground, publishing $PORT -> 8080 (on $HOST_IP if
#                        set; PORT=0 picks a free port, `<engine> port $CONTAINER` tells which),
#                        passing every DELAY_ECHO_* (and RUST_LOG) set in the environment;
#                        extra arguments go to delay-echo. Its exit status is the service's.
#   container.sh probe   (Podman) what `run` would add on this host, as two lines of flags:
#                        the global ones (e.g. `--runtime runc`) and the `run` ones (e.g.
#                        `--ulimit nofile=…`), each possibly empty; the local platform's
#                        containers use it, so the probe is written once
#   container.sh stop    stop $CONTAINER (SIGTERM: it drains and exits 0; SIGKILL after
#                        $STOP_TIMEOUT s); says so and exits 0 when there is none
#   container.sh push    tag $IMAGE as $REPOSITORY_URL:$TAG, push it and print the digest the
#                        registry gave it ("digest: REPOSITORY_URL@sha256:..."). ECR URLs log in
#                        through the AWS CLI first; any other registry needs REGISTRY_LOGIN=none
#                        (no login: one that needs none, or one already logged in to). Podman
#                        talks plain HTTP (--tls-verify=false) to loopback registries only.
#
# The engine (ENGINE=auto|docker|podman, default auto): Docker where its CLI is installed and
# an engine answers, else Podman; with neither, exit 2 saying what to install. For Podman the
# run probes, with the image's own `--version`, what this host lets a container do: the
# default OCI runtime, else the other of runc/crun (crun refuses cgroup v1 "hybrid" hosts);
# the default rlimits, else explicit ones below this shell's hard limits (a host without
# CAP_SYS_RESOURCE refuses Podman's defaults). Podman builds with --format docker (the OCI
# format has no HEALTHCHECK).
#
# Settings come from the environment (the Makefile exports its variables):
#   IMAGE (delay-echo:local) PLATFORM (linux/amd64) CONTAINER (delay-echo) PORT (8080) HOST_IP
#   VERSION REVISION SOURCE (OCI labels) BUILD (auto|full|offline) STOP_TIMEOUT (30)
#   REPOSITORY_URL AWS_REGION TAG REGISTRY_LOGIN (push)
#   DOCKER PODMAN PYTHON (the commands; docker, podman, python3)
set -euo pipefail
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

ENGINE=${ENGINE:-auto}
DOCKER=${DOCKER:-docker}
PODMAN=${PODMAN:-podman}
PYTHON=${PYTHON:-python3}
IMAGE=${IMAGE:-delay-echo:local}
PLATFORM=${PLATFORM:-linux/amd64}
CONTAINER=${CONTAINER:-delay-echo}
PORT=${PORT:-8080}
HOST_IP=${HOST_IP:-}
BUILD=${BUILD:-auto}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}
# Where the offline path stages the build context (the same place as `make image-binary`).
IMAGE_CONTEXT=${IMAGE_CONTEXT:-target/image/context}

readonly INSTALL_DOCKER="Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop"
readonly INSTALL_PODMAN="Podman (Debian/Ubuntu: 'apt-get install --no-install-recommends podman runc containernetworking-plugins iptables', as 'make deps' does; https://podman.io/docs/installation)"

die() {
  echo "container.sh: $*" >&2
  exit 2
}

note() {
  echo "container.sh: $*" >&2
}

# Sets ENGINE_KIND (docker|podman) and ENGINE_CMD (the command), or exits 2 naming what is
# missing and how to get it.
pick_engine() {
  local docker_err=""
  case "$ENGINE" in
    docker | auto)
      if ! command -v "$DOCKER" >/dev/null 2>&1; then
        docker_err="the docker CLI ('$DOCKER') is not installed"
      elif ! docker_err=$("$DOCKER" info --format '{{.ServerVersion}}' 2>&1 >/dev/null); then
        docker_err="no Docker engine is running (docker said: ${docker_err##*$'\n'}); start it (Linux: 'sudo systemctl start docker'; macOS/Windows: open Docker Desktop) or point DOCKER_HOST at one"
      else
        ENGINE_CMD=$DOCKER
        # podman-docker's `docker` is Podman under another name: it needs Podman's flags.
        if "$DOCKER" --version 2>/dev/null | grep -qi podman; then
          ENGINE_KIND=podman
        else
          ENGINE_KIND=docker
        fi
        return 0
      fi
      if [[ $ENGINE == docker ]]; then
        [[ $docker_err == *"not installed"* ]] && die "$docker_err; install $INSTALL_DOCKER"
        die "$docker_err"
      fi
      ;;&
    podman | auto)
      if command -v "$PODMAN" >/dev/null 2>&1; then
        local err
        if err=$("$PODMAN" info --format '{{.Host.OCIRuntime.Name}}' 2>&1 >/dev/null); then
          ENGINE_KIND=podman
          ENGINE_CMD=$PODMAN
          [[ $ENGINE == auto && $docker_err == *"not installed"* ]] || [[ $ENGINE == podman ]] ||
            note "${docker_err%%;*}: using Podman"
          return 0
        fi
        die "Podman ('$PODMAN') does not work here (podman info said: ${err##*$'\n'})${docker_err:+; and $docker_err}"
      fi
      [[ $ENGINE == podman ]] && die "Podman ('$PODMAN') is not installed; install $INSTALL_PODMAN"
      if [[ $docker_err == *"not installed"* ]]; then
        die "no container engine: $docker_err and neither is Podman ('$PODMAN'); install $INSTALL_DOCKER, or $INSTALL_PODMAN"
      fi
      die "$docker_err; or install $INSTALL_PODMAN"
      ;;
    *) die "ENGINE '$ENGINE' is not supported; allowed: auto, docker, podman" ;;
  esac
}

has_buildx() {
  "$DOCKER" buildx version >/dev/null 2>&1
}

# The first stage's base image, as the Dockerfile names it.
base_image() {
  awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; exit } }' Dockerfile
}

host_platform() {
  case "$(uname -m)" in
    x86_64 | amd64) echo linux/amd64 ;;
    aarch64 | arm64) echo linux/arm64 ;;
    *) echo "linux/$(uname -m)" ;;
  esac
}

# Sets BUILD_PATH (full|offline) and BUILD_WHY.
choose_build_path() {
  local base err
  base=$(base_image)
  case "$BUILD" in
    full) BUILD_PATH=full BUILD_WHY="BUILD=full" ;;
    offline) BUILD_PATH=offline BUILD_WHY="BUILD=offline" ;;
    auto)
      if "$ENGINE_CMD" image inspect "$base" >/dev/null 2>&1; then
        BUILD_PATH=full BUILD_WHY="the base image $base is present"
      elif err=$(timeout 20 "$ENGINE_CMD" manifest inspect "$base" 2>&1 >/dev/null); then
        BUILD_PATH=full BUILD_WHY="the base image $base can be pulled"
      else
        BUILD_PATH=offline BUILD_WHY="the base image $base cannot be pulled (${err##*$'\n'})"
      fi
      ;;
    *) die "BUILD '$BUILD' is not supported; allowed: auto, full, offline" ;;
  esac
}

# The offline path's binary, built exactly as the builder stage builds it: build-static.sh on a
# copy of the build context (the cargo folder is `make image-binary`'s, so a build there is
# reused). The binary goes to OUT (the named build context's out/delay-echo), not over
# target/image/delay-echo, which tests may be running.
offline_binary() {
  local out=$1
  "$PYTHON" scripts/image/context.py stage "$IMAGE_CONTEXT" >&2
  (cd "$IMAGE_CONTEXT" && CARGO_TARGET_DIR="$ROOT/target/image/cargo" \
    ./scripts/image/build-static.sh build "$out") >&2
}

build() {
  [[ $PLATFORM =~ ^linux/(amd64|arm64)$ ]] ||
    die "PLATFORM '$PLATFORM' is not supported; allowed: linux/amd64, linux/arm64"
  pick_engine
  choose_build_path
  local -a build_args=(
    --build-arg "VERSION=${VERSION:-dev}"
    --build-arg "REVISION=${REVISION:-unknown}"
    --build-arg "SOURCE=${SOURCE:-}"
  )
  # Podman 4.3 (buildah 1.28) reuses a cached LABEL layer when only a build argument's value
  # changed, so the image would carry the previous build's revision; the same values as
  # --label are applied to the final image whatever the cache holds.
  if [[ $ENGINE_KIND == podman ]]; then
    build_args+=(
      --label "org.opencontainers.image.version=${VERSION:-dev}"
      --label "org.opencontainers.image.revision=${REVISION:-unknown}"
      --label "org.opencontainers.image.source=${SOURCE:-}"
    )
  fi
  if [[ $BUILD_PATH == offline ]]; then
    local host
    host=$(host_platform)
    [[ $PLATFORM == "$host" ]] ||
      die "the offline build makes the binary on this machine, so it builds for $host only, not PLATFORM=$PLATFORM ($BUILD_WHY); the full build (base image reachable) can build for another platform"
    if [[ $ENGINE_KIND == docker ]] && ! has_buildx; then
      die "the offline build needs a named build context, which plain 'docker build' lacks ($BUILD_WHY); install buildx (Debian/Ubuntu: apt-get install docker-buildx; Docker's packages: docker-buildx-plugin) or use Podman (ENGINE=podman)"
    fi
    note "offline build with $ENGINE_KIND: $BUILD_WHY; building the binary on this machine with scripts/image/build-static.sh, as the Dockerfile's builder stage does, and handing it to the Dockerfile as the build context 'builder'"
    mkdir -p target/image
    local dir
    dir=$(mktemp -d "$ROOT/target/image/builder.XXXXXX")
    # shellcheck disable=SC2064 # expand now: the folder is this build's own
    trap "rm -rf '$dir'" EXIT
    offline_binary "$dir/out/delay-echo"
    if [[ $ENGINE_KIND == docker ]]; then
      "$ENGINE_CMD" buildx build --platform "$PLATFORM" "${build_args[@]}" --build-context "builder=$dir" \
        --load --tag "$IMAGE" "$@" .
    else
      "$ENGINE_CMD" build --format docker --platform "$PLATFORM" "${build_args[@]}" --build-context "builder=$dir" \
        --tag "$IMAGE" "$@" .
    fi
  else
    note "full multi-stage build with $ENGINE_KIND: $BUILD_WHY"
    if [[ $ENGINE_KIND == podman ]]; then
      "$ENGINE_CMD" build --format docker --platform "$PLATFORM" "${build_args[@]}" --tag "$IMAGE" "$@" .
    elif has_buildx; then
      "$ENGINE_CMD" buildx build --platform "$PLATFORM" "${build_args[@]}" --load --tag "$IMAGE" "$@" .
    else
      # The classic builder takes no --platform without BuildKit: it builds for the engine's own
      # platform, which is what the original experiment's `docker build` did.
      note "the docker buildx plugin is not installed, so PLATFORM=$PLATFORM cannot be chosen;" \
        "building with plain 'docker build' for this engine's platform. For another platform install buildx" \
        "(Debian/Ubuntu: apt-get install docker-buildx; Docker's packages: docker-buildx-plugin;" \
        "https://docs.docker.com/build/install-buildx/)."
      "$ENGINE_CMD" build "${build_args[@]}" --tag "$IMAGE" "$@" .
    fi
  fi
  note "built $IMAGE with $ENGINE_KIND ($BUILD_PATH build)"
}

# Podman: sets PODMAN_GLOBAL (--runtime ...) and PODMAN_LIMITS (--ulimit ...) to what this host
# lets a container of $IMAGE start with, trying the image's own `--version`.
probe_podman() {
  PODMAN_GLOBAL=() PODMAN_LIMITS=()
  "$ENGINE_CMD" image exists "$IMAGE" 2>/dev/null ||
    die "no local image '$IMAGE'; build it first with 'make buildc'"
  local default_rt other_rt nofile nproc hard_n hard_u
  default_rt=$("$ENGINE_CMD" info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null || echo unknown)
  case "$default_rt" in
    crun) other_rt=runc ;;
    runc) other_rt=crun ;;
    *) other_rt="" ;;
  esac
  hard_n=$(ulimit -Hn) hard_u=$(ulimit -Hu)
  [[ $hard_n == unlimited ]] && hard_n=131072
  [[ $hard_u == unlimited ]] && hard_u=8192
  nofile=$((hard_n / 2 < 65536 ? hard_n / 2 : 65536))
  nproc=$((hard_u / 2 < 4096 ? hard_u / 2 : 4096))
  local -a runtimes=("") limits=("")
  [[ -n $other_rt ]] && command -v "$other_rt" >/dev/null 2>&1 && runtimes+=("$other_rt")
  limits+=("--ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc")
  local rt lim err first_err=""
  for lim in "${limits[@]}"; do
    for rt in "${runtimes[@]}"; do
      local -a g=() l=()
      [[ -n $rt ]] && g=(--runtime "$rt")
      # shellcheck disable=SC2206 # the flags are words by construction
      [[ -n $lim ]] && l=($lim)
      if err=$("$ENGINE_CMD" "${g[@]}" run --rm --read-only "${l[@]}" "$IMAGE" --version 2>&1 >/dev/null); then
        PODMAN_GLOBAL=("${g[@]}") PODMAN_LIMITS=("${l[@]}")
        if [[ -n $first_err ]]; then
          note "podman: the defaults do not start a container here (${first_err}); using${rt:+ runtime $rt}${lim:+ $lim}"
        fi
        return 0
      fi
      # The engine's own error line, not the warnings before it.
      err=$(grep -E '^Error|error' <<<"$err" | tail -n 1 || true)
      [[ -n $first_err ]] || first_err=${err:0:300}
    done
  done
  die "podman cannot start a container of $IMAGE here, with runtime ${default_rt}${other_rt:+ or $other_rt}, default or explicit rlimits (podman said: $first_err)"
}

run() {
  if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT > 65535)); then
    die "PORT '$PORT' is not a TCP port; allowed: 1-65535, or 0 for any free port"
  fi
  [[ -z $HOST_IP || $HOST_IP =~ ^[0-9.]+$ ]] ||
    die "HOST_IP '$HOST_IP' is not an IPv4 address; allowed: empty (every address) or e.g. 127.0.0.1"
  pick_engine
  local publish
  if ((PORT == 0)); then
    publish=${HOST_IP:+$HOST_IP::}8080
  else
    publish=${HOST_IP:+$HOST_IP:}$PORT:8080
  fi
  local -a env_args=()
  local name
  # `-e NAME` without a value: the engine reads the value from this environment, so values
  # with spaces or quotes pass through untouched.
  while IFS= read -r name; do
    env_args+=(-e "$name")
  done < <(compgen -e | grep -E '^(DELAY_ECHO_[A-Z0-9_]+|RUST_LOG)$' || true)
  if [[ $ENGINE_KIND == podman ]]; then
    probe_podman
    # Podman runs the HEALTHCHECK on systemd timers; without systemd it logs that it cannot
    # add them (harmless) and the check runs on demand only.
    [[ -d /run/systemd/system ]] ||
      note "podman: no systemd here, so no health-check timer (podman logs so); 'podman healthcheck run $CONTAINER' runs the HEALTHCHECK on demand"
    "$ENGINE_CMD" rm --force --ignore "$CONTAINER" >/dev/null 2>&1 || true
    exec "$ENGINE_CMD" "${PODMAN_GLOBAL[@]}" run --rm --name "$CONTAINER" --read-only --publish "$publish" \
      "${PODMAN_LIMITS[@]}" "${env_args[@]}" "$IMAGE" "$@"
  fi
  # Replace a previous container of the same name, running or not.
  "$ENGINE_CMD" rm --force "$CONTAINER" >/dev/null 2>&1 || true
  exec "$ENGINE_CMD" run --rm --name "$CONTAINER" --read-only --publish "$publish" \
    "${env_args[@]}" "$IMAGE" "$@"
}

probe() {
  pick_engine
  [[ $ENGINE_KIND == podman ]] || die "probe is for Podman (the engine here is $ENGINE_KIND)"
  probe_podman
  echo "${PODMAN_GLOBAL[*]}"
  echo "${PODMAN_LIMITS[*]}"
}

stop() {
  [[ $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "STOP_TIMEOUT '$STOP_TIMEOUT' is not a number of seconds"
  pick_engine
  if ! "$ENGINE_CMD" container inspect "$CONTAINER" >/dev/null 2>&1; then
    note "no container '$CONTAINER' ($ENGINE_KIND); nothing to stop"
    return 0
  fi
  "$ENGINE_CMD" stop --time "$STOP_TIMEOUT" "$CONTAINER" >/dev/null
  note "stopped $CONTAINER ($ENGINE_KIND)"
}

push() {
  local url=${REPOSITORY_URL:-}
  local ecr='^([0-9]{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/[a-z0-9]+([._/-][a-z0-9]+)*$'
  local other='^[A-Za-z0-9.-]+(:[0-9]+)?/[a-z0-9]+([._/-][a-z0-9]+)*$'
  local login=${REGISTRY_LOGIN:-}
  [[ -n $url ]] ||
    die "set REPOSITORY_URL=<account>.dkr.ecr.<region>.amazonaws.com/<name> (the Terraform output repository_url)"
  [[ -z $login || $login == none || $login == ecr ]] ||
    die "REGISTRY_LOGIN '$login' is not supported; allowed: ecr (the default for ECR URLs), none"
  local region=""
  if [[ $url =~ $ecr ]]; then
    local url_region=${BASH_REMATCH[2]}
    region=${AWS_REGION:-$url_region}
    [[ $region == "$url_region" ]] ||
      die "AWS_REGION '$region' differs from the repository's region '$url_region'; unset AWS_REGION or make them agree"
    login=${login:-ecr}
  elif [[ $login == none ]]; then
    [[ $url =~ $other ]] ||
      die "REPOSITORY_URL '$url' is not a repository URL; allowed: <host>[:<port>]/<name>"
  else
    die "REPOSITORY_URL '$url' is not an ECR repository URL; allowed: <12-digit account>.dkr.ecr.<region>.amazonaws.com/<name>, or another registry with REGISTRY_LOGIN=none (no login: a registry that needs none, or one you are already logged in to)"
  fi
  local tag=${TAG:-}
  [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] ||
    die "TAG '$tag' is not a valid image tag; allowed: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'"
  pick_engine
  "$ENGINE_CMD" image inspect "$IMAGE" >/dev/null 2>&1 ||
    die "no local image '$IMAGE'; build it first with 'make buildc'"

  local registry=${url%%/*}
  local -a tls=()
  # A plain-HTTP registry on this machine (a rehearsal, scripts/image/registry.sh): Docker
  # allows 127.0.0.0/8 without TLS by default, Podman has to be told.
  if [[ $ENGINE_KIND == podman && $registry =~ ^(127\.[0-9.]+|localhost)(:[0-9]+)?$ ]]; then
    tls=(--tls-verify=false)
  fi
  if [[ $login == ecr ]]; then
    aws ecr get-login-password --region "$region" |
      "$ENGINE_CMD" login "${tls[@]}" --username AWS --password-stdin "$registry"
  fi
  "$ENGINE_CMD" tag "$IMAGE" "$url:$tag"
  local digest=""
  if [[ $ENGINE_KIND == podman ]]; then
    local file
    file=$(mktemp)
    # shellcheck disable=SC2064 # expand now
    trap "rm -f '$file'" EXIT
    "$ENGINE_CMD" push "${tls[@]}" --digestfile "$file" "$url:$tag"
    digest=$(<"$file")
  else
    local out
    out=$("$ENGINE_CMD" push "$url:$tag" | tee /dev/stderr)
    # docker push ends with "<tag>: digest: sha256:<hex> size: <n>".
    digest=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"$out" | tail -n 1)
  fi
  [[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] ||
    { echo "container.sh: pushed $url:$tag but the engine reported no digest ('$digest')" >&2; exit 1; }
  echo "pushed $url:$tag"
  echo "digest: $url@$digest"
}

[[ $# -ge 1 ]] || die "usage: container.sh build|run|stop|push [ARGS...]"
cmd=$1
shift
case "$cmd" in
  build) build "$@" ;;
  run) run "$@" ;;
  stop) stop ;;
  probe) probe ;;
  push) push ;;
  *) die "unknown command '$cmd'; allowed: build, run, stop, probe, push" ;;
esac
