#!/usr/bin/env bash
# Black-box smoke test of a built image, run by CI's image job right after `docker build`:
# the image must start, answer an echo with its knobs and its probes, run as non-root, turn
# healthy through its own HEALTHCHECK, stay under the size budget, and end with exit 0
# within a few seconds of `docker stop`. On failure it dumps the container's logs and health
# history. It talks only to 127.0.0.1.
#
#   smoke.sh IMAGE          (SMOKE_PORT, default 18080, is the host port used)
set -euo pipefail

image=${1:?usage: smoke.sh IMAGE}
port=${SMOKE_PORT:-18080}
name=delay-echo-smoke
base="http://127.0.0.1:$port"
max_image_bytes=10000000
work=$(mktemp -d)

fail() {
  echo "smoke: FAIL: $*" >&2
  exit 1
}
ok() { echo "smoke: ok: $*"; }

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    echo "--- docker logs $name ---" >&2
    docker logs "$name" >&2 || true
    echo "--- health log ---" >&2
    docker inspect --format '{{json .State.Health}}' "$name" >&2 || true
  fi
  docker rm --force "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# request METHOD PATH [curl args...]: prints the status; headers and body land in $work.
request() {
  local method=$1 path=$2
  shift 2
  curl --silent --show-error --max-time 10 -X "$method" \
    --dump-header "$work/headers" --output "$work/body" --write-out '%{http_code}' \
    "$@" "$base$path"
}

header() { grep -i "^$1:" "$work/headers" | head -n 1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

docker rm --force "$name" >/dev/null 2>&1 || true
# A short health interval so the image's own HEALTHCHECK command runs within the test.
docker run --detach --name "$name" --publish "127.0.0.1:$port:8080" \
  --health-interval 2s --env DELAY_ECHO_ACCESS_LOG=true "$image" >/dev/null

for _ in $(seq 60); do
  curl --silent --fail --max-time 2 "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
[[ $(request GET /readyz) == 200 ]] || fail "/readyz did not answer 200"
ok "ready"
[[ $(request GET /healthz) == 200 ]] || fail "/healthz did not answer 200"
if [[ $(request GET /metrics) != 200 ]] || ! grep -q '^delay_echo_' "$work/body"; then
  fail "/metrics did not answer 200 with delay_echo_ metrics"
fi
ok "probes and metrics"

status=$(request POST '/smoke/echo?delay=20ms&status=201' --data-binary 'hello from the smoke test')
[[ $status == 201 ]] || fail "echo with ?status=201 answered $status"
[[ $(cat "$work/body") == 'hello from the smoke test' ]] || fail "echo body differs: $(head -c 200 "$work/body")"
[[ -n $(header X-Instance-Id) ]] || fail "echo answer has no X-Instance-Id"
[[ $(header Server-Timing) == *sleep* ]] || fail "echo answer has no Server-Timing sleep part"
ok "echo with query knobs (instance $(header X-Instance-Id))"

status=$(request GET /smoke/header -H 'X-Echo-Status: 202' -H 'X-Echo-Delay: 5ms')
[[ $status == 202 ]] || fail "echo with X-Echo-Status: 202 answered $status"
ok "echo with header knobs"

status=$(request GET '/smoke/json?format=json')
[[ $status == 200 && $(header Content-Type) == application/json* ]] ||
  fail "?format=json answered $status with Content-Type '$(header Content-Type)'"
ok "JSON description"

status=$(request GET '/smoke/bad?delay=banana')
if [[ $status != 400 ]] || ! grep -q '"param"' "$work/body"; then
  fail "a bad delay answered $status: $(head -c 200 "$work/body")"
fi
ok "bad knob rejected with 400"

[[ $(docker image inspect --format '{{.Config.User}}' "$image") == 65532:65532 ]] || fail "image USER is not 65532:65532"
uid=$(docker top "$name" -o uid | tail -n +2 | tr -d ' ')
[[ $uid == 65532 ]] || fail "the process runs as uid '$uid', not 65532"
ok "runs as uid 65532"

health=""
for _ in $(seq 30); do
  health=$(docker inspect --format '{{.State.Health.Status}}' "$name")
  [[ $health == healthy ]] && break
  sleep 1
done
[[ $health == healthy ]] || fail "HEALTHCHECK status is '$health', not healthy"
ok "healthy through 'delay-echo healthcheck'"

size=$(docker image inspect --format '{{.Size}}' "$image")
((size < max_image_bytes)) || fail "image is $size bytes; the budget is $max_image_bytes"
ok "image size $size bytes"

start=$(date +%s)
docker stop --time 10 "$name" >/dev/null
elapsed=$(($(date +%s) - start))
code=$(docker inspect --format '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || fail "exit code after docker stop is $code, not 0"
((elapsed <= 5)) || fail "docker stop took ${elapsed}s; SIGTERM should end it within a few seconds"
ok "docker stop: exit 0 after ${elapsed}s"
echo "smoke: all checks passed"
