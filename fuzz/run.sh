#!/usr/bin/env bash
# Runs fuzz targets one after another: run.sh SECONDS RUNS TARGET...; RUNS, when not empty, is an
# execution count that wins over SECONDS. New inputs go to fuzz/target/found/<target> (the
# committed fuzz/corpus/<target>, fuzz/seeds/<target> and fuzz/regressions/<target> are read, not grown:
# `make fuzz-cmin` folds them in),
# each run's log to fuzz/target/logs/<target>.log; a crash leaves its input in
# fuzz/artifacts/<target>/. Ends with one line per target (executions, speed, outcome), non-zero
# if any target failed.
set -uo pipefail
seconds=$1 runs=$2
shift 2
cd "$(dirname "$0")/.."
: "${CARGO_FUZZ:?the cargo-fuzz binary}" "${FUZZ_BUILD:=-O -a}"
# cargo-fuzz passes nightly-only flags to rustc; see mk/fuzz.mk.
export RUSTC_BOOTSTRAP=1
if [ -n "$runs" ]; then limit=(-runs="$runs"); else limit=(-max_total_time="$seconds"); fi
mkdir -p fuzz/target/logs
# One build for every target, so no target's time goes to compiling.
"$CARGO_FUZZ" fuzz build $FUZZ_BUILD || exit 2
summary=() failed=0
for t in "$@"; do
  mkdir -p "fuzz/target/found/$t"
  log="fuzz/target/logs/$t.log"
  echo "== $t: ${limit[*]}"
  # A unit slower than 10 s is a hang: every delay the targets can ask for is capped at 2 ms.
  seeds=("fuzz/corpus/$t")
  for d in seeds regressions; do [ -d "fuzz/$d/$t" ] && seeds+=("fuzz/$d/$t"); done
  "$CARGO_FUZZ" fuzz run $FUZZ_BUILD "$t" "fuzz/target/found/$t" "${seeds[@]}" -- \
    "${limit[@]}" -timeout=10 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    outcome="no crash"
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    outcome="FAILED (exit $rc${artifact:+, input in $artifact}; log $log)"
    grep -m1 -A2 "panicked at" "$log" || tail -5 "$log"
  fi
  summary+=("$(printf '%-14s %12s executions  %8s exec/s  %s' "$t" "${execs:-?}" "${speed:-?}" "$outcome")")
done
echo
echo "fuzz summary (${limit[*]} per target):"
printf '  %s\n' "${summary[@]}"
exit "$failed"
