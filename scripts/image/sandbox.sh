#!/usr/bin/env bash
# Runs the image's binary the way the image runs it, without a Docker engine: as the image's
# numeric user (a real uid 65532 on the host, as Docker without user-namespace remapping
# does), with an empty environment (bar bwrap's PWD=/), as PID 1 of its own PID namespace, in its own network
# namespace (loopback only), in an empty root filesystem that holds nothing but the binary —
# no /proc, /dev, /tmp or /etc, stricter than a container. `make test` drives it from
# tests/image/test_sandbox.py.
#
#   sandbox.sh run INFO_FILE BINARY [ARGS...]  start the "container"; bubblewrap writes
#                                               {"child-pid": N} (the host PID) to INFO_FILE
#   sandbox.sh exec PID BINARY [ARGS...]        another process of the image in the same
#                                               network namespace (like `docker exec`)
#   sandbox.sh host PID COMMAND [ARGS...]       a host command (curl) in that namespace
#   sandbox.sh inspect PID                      uid, gid, PID-1-ness, environment, root fs
#   sandbox.sh signal PID SIGNAL                send SIGNAL to the sandboxed process
#
# Needs root (setpriv, nsenter); as another user it re-runs itself through `sudo -n`.
set -euo pipefail

readonly IMAGE_UID=65532
readonly IMAGE_GID=65532

if [[ $(id -u) -ne 0 ]]; then
  exec sudo -n -- "$0" "$@"
fi

usage() {
  echo "usage: $0 run INFO_FILE BINARY [ARGS...] | exec PID BINARY [ARGS...] | host PID CMD [ARGS...] | inspect PID | signal PID SIGNAL" >&2
  exit 2
}

need_pid() {
  [[ $1 =~ ^[0-9]+$ && -d /proc/$1 ]] || { echo "sandbox.sh: no process with PID '$1'" >&2; exit 2; }
}

# bwrap options shared by `run` and `exec`: everything unshared but what `exec` joins, an
# empty tmpfs as /, the binary bound read-only as /delay-echo, no environment but the PWD=/
# that bwrap always sets after --clearenv (Docker, for comparison, adds PATH and HOSTNAME).
bwrap_image() {
  local binary=$1
  shift
  [[ -f $binary ]] || { echo "sandbox.sh: binary '$binary' not found" >&2; exit 2; }
  setpriv --reuid "$IMAGE_UID" --regid "$IMAGE_GID" --clear-groups --inh-caps=-all -- \
    bwrap --unshare-user --uid "$IMAGE_UID" --gid "$IMAGE_GID" \
      --unshare-ipc --unshare-pid --unshare-uts --unshare-cgroup-try \
      --die-with-parent --new-session --clearenv \
      --tmpfs / --ro-bind "$binary" /delay-echo --remount-ro / \
      "$@"
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift

case "$cmd" in
  run)
    [[ $# -ge 2 ]] || usage
    info=$1 binary=$2
    shift 2
    # The info fd is opened here, as root, before setpriv drops privileges.
    exec 3>"$info"
    chmod 0644 "$info"
    bwrap_image "$binary" --unshare-net --as-pid-1 --info-fd 3 /delay-echo "$@"
    ;;
  exec)
    [[ $# -ge 2 ]] || usage
    pid=$1 binary=$2
    shift 2
    need_pid "$pid"
    nsenter --net="/proc/$pid/ns/net" -- \
      "$(realpath "$0")" _exec_in_netns "$binary" "$@"
    ;;
  _exec_in_netns)
    binary=$1
    shift
    bwrap_image "$binary" /delay-echo "$@"
    ;;
  host)
    [[ $# -ge 2 ]] || usage
    pid=$1
    shift
    need_pid "$pid"
    exec nsenter --net="/proc/$pid/ns/net" -- "$@"
    ;;
  inspect)
    [[ $# -eq 1 ]] || usage
    pid=$1
    need_pid "$pid"
    awk '/^(Uid|Gid|NSpid):/ { $1 = tolower(substr($1, 1, length($1) - 1)); print $1 "=" $2 "," $3 "," $4 "," $5 }' "/proc/$pid/status"
    # NUL-separated NAME=value pairs, printed as a comma-separated list.
    echo "environ=$(tr '\0' ',' <"/proc/$pid/environ")"
    echo "root=$(cd "/proc/$pid/root" && find . -mindepth 1 | sort | paste -sd, -)"
    ;;
  signal)
    [[ $# -eq 2 ]] || usage
    need_pid "$1"
    kill -s "$2" "$1"
    ;;
  *)
    usage
    ;;
esac
