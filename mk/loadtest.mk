# Load tests and their analysis (loadtests/): k6 profiles run against a target into run folders,
# and the Python report (pandas, matplotlib) that says when capacity arrived. k6 comes from PATH when
# installed (prefer Grafana's own packages), else from the pinned copy in the venv.

CHECK_TARGETS += check-loadtests
LIVE_TARGETS += test-loadtests

# k6 on PATH wins, else the venv's pinned copy (loadtests/core/tools.py resolves it the same way).
K6_ON_PATH    := $(shell command -v k6 2>/dev/null)
K6            ?= $(or $(K6_ON_PATH),$(abspath $(VENV_BIN))/k6)
RESULTS       ?= loadtests/results
# Extra options for the analysis, e.g. REPORT_ARGS="--slo-p95 300 --recovery-seconds 10".
REPORT_ARGS   ?=
# `make report` without RUN reports on the latest run.
RUN           ?= $(shell cat $(RESULTS)/.last 2>/dev/null)
ANALYSIS      := $(VENV_BIN)/delay-echo-analysis

# The run's settings (PROFILE, TARGET, SEGMENT, …) and the profile's knobs reach it through the
# environment: make exports the variables given on its command line.
.PHONY: loadtest
loadtest: $(VENV)/.stamp ## Load-test a target: make loadtest TARGET=https://… PROFILE=spike [PEAK=800 …] [SEGMENT=1 SEGMENTS=3]
	K6="$(K6)" RESULTS="$(RESULTS)" $(VENV_BIN)/delay-echo-loadtest

# The local platform (mk/platform.mk) with its fixed-schedule policy and the spike profile: one
# capacity-bound delay-echo behind HAProxy; LOCAL_SCALE_OUT=<s> starts a second one that many
# seconds after the load began. The scheduled instance boots at once (COLD_START 0).
.PHONY: loadtest-local
loadtest-local: build $(VENV)/.stamp ## Spike a local delay-echo (127.0.0.1, about a minute) and write its report [PEAK= HOLD= LOCAL_SCALE_OUT=]
	K6="$(K6)" RESULTS="$(RESULTS)" DELAY_ECHO_BIN=target/release/delay-echo POLICY=schedule PROFILE=spike \
	  MAX_RUN_TIME="$${MAX_RUN_TIME:-120}" COLD_START="$${COLD_START:-0}" \
	  STUDY="$${STUDY:-local: delay-echo --max-concurrency $${LOCAL_CONCURRENCY:-10} --delay $${LOCAL_DELAY:-80ms}$${LOCAL_SCALE_OUT:+, second instance after $${LOCAL_SCALE_OUT}s}}" \
	  $(VENV_BIN)/delay-echo-platform run

.PHONY: report
report: $(VENV)/.stamp ## Report on a run: make report RUN="loadtests/results/<run> [<other generators' folders>…]"
	@test -n "$(RUN)" || { echo 'give the run folder(s): make report RUN=loadtests/results/<time>-<profile>' >&2; exit 2; }
	$(ANALYSIS) report $(RUN) $(REPORT_ARGS)

.PHONY: compare
compare: $(VENV)/.stamp ## Put runs side by side, A the baseline: make compare A=<run> B=<run> [C=<run> …]
	@test -n "$(A)" -a -n "$(B)" || { echo 'give at least two runs: make compare A=<run folder> B=<run folder> [C=… D=…]' >&2; exit 2; }
	$(ANALYSIS) compare $(A) $(B) $(C) $(D) $(E) $(F) $(REPORT_ARGS)

# Tests without a server (analysis known answers, k6 inspect, policies, plans, study files) run in
# make check; the ones marked `live` (k6, locust and the local platform against the real delay-echo
# on 127.0.0.1) are the gate. Those also marked `netns` build network namespaces: test-studies runs
# them. Markers are declared in pyproject.toml.
LOADTEST_ENV = K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(SERVICE_BIN)"

.PHONY: check-loadtests
check-loadtests: $(VENV)/.stamp ## Load-test checks without a server: analysis known answers, k6 inspect, policies
	$(LOADTEST_ENV) $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -n 2 -m "not live" loadtests/tests

.PHONY: test-loadtests
test-loadtests: image-binary $(VENV)/.stamp ## Load-test gate: k6, locust and the local platform end to end on loopback
	$(LOADTEST_ENV) $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "live and not netns and not faults" loadtests/tests

# Every fault kind end to end: the local platform's kill, hang, slow and Ctrl-C during a hang, the
# mesh's partition and degrade, a study's degrade. make test runs the platform's kill (test-loadtests)
# and the mesh's (test-mesh), to stay within its time; tests marked `faults` run only here.
.PHONY: test-faults
test-faults: image-binary link-binary $(VENV)/.stamp ## Faults end to end: each kind on the local platform, on the emulated mesh and in a study, every request accounted for (about 1.5 min)
	$(LOADTEST_ENV) DELAY_ECHO_LINK_BIN="$(CURDIR)/$(LINK_BIN)" $(VENV_BIN)/python -m pytest -q -p no:cacheprovider \
	  loadtests/tests/test_faults_end_to_end.py loadtests/mesh/tests/test_mesh_faults.py \
	  loadtests/tests/test_studies_faults.py

# What k6's outputs cost the generator (CPU and bytes per request: CSV, records, both, records with
# the CSV reduced) at 1,000 and 3,000 req/s against delay-echo on 127.0.0.1. A benchmark, not a
# test (bench/README.md, "The lab's own costs"); BENCH_K6_RATES, _DURATION, _ROUNDS, _WAYS.
.PHONY: bench-k6
bench-k6: build $(VENV)/.stamp ## k6's CPU and bytes per request for each way of writing a run (about 10 min)
	K6="$(K6)" DELAY_ECHO_BIN="$(CURDIR)/target/release/delay-echo" $(VENV_BIN)/python -m loadtests.loadtest.bench
