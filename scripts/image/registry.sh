#!/usr/bin/env bash
# A throw-away local image registry (Debian's `docker-registry`, the CNCF distribution
# registry) on 127.0.0.1, for rehearsing `make push` and for pulling images locally without a
# cloud registry. Plain HTTP, no authentication, storage under DIR: nothing outside DIR is
# touched, and `stop` leaves DIR for the caller to remove.
#
#   registry.sh start DIR PORT   write DIR/config.yml (storage DIR/storage, listening on
#                                127.0.0.1:PORT), start the registry in the background (log in
#                                DIR/registry.log, PID in DIR/registry.pid) and wait until
#                                GET http://127.0.0.1:PORT/v2/ answers 200; exit non-zero with
#                                a message (and the log's tail) if it does not within
#                                REGISTRY_WAIT seconds (default 10). PORT 0: the registry binds
#                                a free port itself (no probe-and-release race) and the port it
#                                got is read from its log. Either way the port is written to
#                                DIR/registry.port.
#   registry.sh stop DIR         stop the registry whose PID is in DIR/registry.pid (SIGTERM,
#                                then SIGKILL after 5 s) and remove the PID file; no-op if
#                                there is none or the process is already gone
#
# Clients reach it as 127.0.0.1:PORT/NAME; Docker treats 127.0.0.0/8 as an insecure registry
# by default, Podman needs --tls-verify=false (scripts/image/container.sh passes it for
# loopback registries). REGISTRY_BIN overrides the binary (default: docker-registry).
set -euo pipefail

REGISTRY_BIN=${REGISTRY_BIN:-docker-registry}
REGISTRY_WAIT=${REGISTRY_WAIT:-10}

# die MESSAGE [STATUS]: 1 for a failure to start, 2 for a usage error or a missing program.
die() {
  echo "registry.sh: $1" >&2
  exit "${2:-1}"
}

usage() {
  die "usage: registry.sh start DIR PORT | registry.sh stop DIR" 2
}

# The PID in DIR/registry.pid if that process is alive, else nothing.
live_pid() {
  local file=$1/registry.pid pid
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  local dir=$1 port=$2
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port > 65535)); then
    die "PORT '$port' is not a TCP port; allowed: 1-65535, or 0 for a free one" 2
  fi
  command -v "$REGISTRY_BIN" >/dev/null 2>&1 ||
    die "'$REGISTRY_BIN' is not installed; install it (Debian/Ubuntu: apt-get install docker-registry)" 2
  command -v curl >/dev/null 2>&1 || die "curl is not installed (apt-get install curl)" 2
  mkdir -p "$dir/storage"
  dir=$(cd "$dir" && pwd)
  if live_pid "$dir" >/dev/null; then
    die "a registry from $dir is already running (PID $(<"$dir/registry.pid")); stop it first"
  fi
  # Something already listening would answer the readiness probe in the new registry's place.
  if ((port > 0)) && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is already in use; pick another PORT"
  fi
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  # setsid: its own session, so a Ctrl-C in the caller's terminal does not reach it and
  # `stop` is what ends it.
  setsid "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/registry.pid"
  rm -f "$dir/registry.port"
  local deadline=$((SECONDS + REGISTRY_WAIT)) code
  while ((SECONDS < deadline)); do
    if ((port == 0)); then
      # The registry logs the address it bound: 'msg="listening on 127.0.0.1:NNNNN"'.
      port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$dir/registry.log" | head -n 1)
      port=${port:-0}
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$dir/registry.pid"
      echo "--- $dir/registry.log ---" >&2
      tail -n 20 "$dir/registry.log" >&2 || true
      die "the registry exited at start (port $port in use?)"
    fi
    code=000
    ((port == 0)) || code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/v2/" || true)
    if [[ $code == 200 ]] && kill -0 "$pid" 2>/dev/null; then
      echo "$port" >"$dir/registry.port"
      echo "registry.sh: registry on 127.0.0.1:$port (PID $pid, storage $dir/storage)"
      return 0
    fi
    sleep 0.1
  done
  echo "--- $dir/registry.log ---" >&2
  tail -n 20 "$dir/registry.log" >&2 || true
  stop "$dir"
  die "the registry did not answer GET http://127.0.0.1:$port/v2/ within ${REGISTRY_WAIT}s"
}

stop() {
  local dir=$1 pid
  if ! pid=$(live_pid "$dir"); then
    rm -f "$dir/registry.pid"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "registry.sh: PID $pid did not stop on SIGTERM within 5 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/registry.pid" "$dir/registry.port"
}

[[ $# -ge 1 ]] || usage
case "$1" in
  start)
    [[ $# -eq 3 ]] || usage
    start "$2" "$3"
    ;;
  stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
  *) usage ;;
esac
