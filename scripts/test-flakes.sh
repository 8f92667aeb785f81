#!/usr/bin/env bash
# `make test-flakes`: repeats the suites to find the tests that pass only sometimes.
#
#   - the Rust suite RUST_RUNS times while the other cores are kept busy (a test that races only
#     when the scheduler is slow shows itself here, as it did on CI's machines);
#   - each live gate (the make targets given as arguments) LIVE_RUNS times on an otherwise idle
#     machine, since they assert ground truths measured in the same run.
#
# Every run goes on to the end; the logs of failed runs stay in OUT (target/flakes by default),
# and the table at the end gives passes/runs per suite. Exit 1 if any run failed.
set -euo pipefail

RUST_RUNS=${RUST_RUNS:-20}
LIVE_RUNS=${LIVE_RUNS:-5}
OUT=${OUT:-target/flakes}
MAKE=${MAKE:-make}
CARGO=${CARGO:-cargo}

die() {
  echo "test-flakes: $*" >&2
  exit 2
}
for n in RUST_RUNS LIVE_RUNS; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die "$n='${!n}' is not a count; allowed: 0 or more runs"
done

rm -rf "$OUT"
mkdir -p "$OUT"
summary=()
failed=0
load_pids=()

stop_load() {
  local p
  for p in "${load_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${load_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  load_pids=()
}
trap stop_load EXIT
trap 'exit 130' INT TERM

# runs NAME COUNT COMMAND...: COUNT runs of COMMAND, a log per failed run, one summary row.
runs() {
  local name=$1 count=$2 i pass=0 started
  shift 2
  started=$SECONDS
  for ((i = 1; i <= count; i++)); do
    if "$@" >"$OUT/$name.$i.log" 2>&1; then
      pass=$((pass + 1))
      rm -f "$OUT/$name.$i.log"
    else
      echo "test-flakes: $name run $i of $count failed; log: $OUT/$name.$i.log" >&2
      grep -E 'panicked|FAILED|failed|Error|error:' "$OUT/$name.$i.log" | head -n 5 >&2 || true
    fi
  done
  ((pass == count)) || failed=1
  summary+=("$(printf '%-22s %3d/%-3d passed  (%d s)' "$name" "$pass" "$count" $((SECONDS - started)))")
  echo "test-flakes: $name $pass/$count passed"
}

if ((RUST_RUNS > 0)); then
  "$CARGO" test --locked --all-targets --no-run >"$OUT/build.log" 2>&1 ||
    die "the Rust suite does not build; see $OUT/build.log"
  # One busy process per core but one: the suite gets a single core, as under a parallel build.
  cores=$(nproc)
  for ((i = 1; i < cores; i++)); do
    sha256sum /dev/zero >/dev/null 2>&1 &
    load_pids+=($!)
  done
  runs cargo-test "$RUST_RUNS" "$CARGO" test --locked --all-targets
  stop_load
fi

if ((LIVE_RUNS > 0)); then
  for gate in "$@"; do
    runs "$gate" "$LIVE_RUNS" "$MAKE" --no-print-directory "$gate"
  done
fi

echo
echo "test-flakes: runs per suite (Rust under load on $(($(nproc) - 1)) other core(s); live gates idle)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
