# The load-test analysis at scale: `make bench-analysis` generates large runs in the real k6 file
# format (kept in BENCH_ANALYSIS_DIR and reused) and prints the whole report's time and peak RSS
# beside `gzip -dc | wc -l` on the same file. A benchmark, not a test: it asserts nothing.
# Before/after in one sitting: `git archive REV loadtests | tar -x -C DIR`, then
# `make bench-analysis BENCH_ANALYSIS_BEFORE=DIR` alternates DIR's analysis with this one's
# (BENCH_ANALYSIS_PAIRS, default 3).

BENCH_ANALYSIS_DIR   ?= /tmp/delay-echo-bench-analysis
# Request counts; the goals (loadtests/README.md) are stated for 576000 and 5000000.
BENCH_ANALYSIS_SIZES ?= 576000,5000000

.PHONY: bench-analysis
bench-analysis: $(VENV)/.stamp ## Time and peak memory of the analysis on generated 576 k and 5 M-request runs
	nice -n 10 $(VENV_BIN)/python -m loadtests.analysis.bench --sizes $(BENCH_ANALYSIS_SIZES) --dir $(BENCH_ANALYSIS_DIR)
