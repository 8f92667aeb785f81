# delay-echo: the front door. `make help` lists every target.
#
#   make check   the inner loop: rustfmt, clippy, cargo test, ruff, mypy and the pure-Python tests.
#                At most 3 minutes on a warm tree; runs no apt and builds no tool from source.
#   make test    what CI runs on a fresh clone: `deps`, then `check`, then the integration gates.
#   make lint    every linter, the slower scanners (hadolint, checkov, zizmor) included.
#
# Each area (service, image, infra, load tests, benchmarks) adds its targets in mk/<area>.mk and
# appends to these lists, so this file stays small:
#   CHECK_TARGETS  fast checks for `make check` (and so `make test`): no apt, no source builds,
#                  seconds each; a check that needs a server, a static build or a network
#                  namespace is an integration gate instead
#   TEST_TARGETS   integration gates that read files and run tools (scanners, schemas, manifests);
#                  `make test` runs them while the service compiles
#   LIVE_TARGETS   integration gates that run the service binary (load generators, namespaces,
#                  the quick benchmark); `make test` runs them one at a time once it is built
#   SERVICE_LANE_GATES  live gates that assert no timing: they run the dev binary at the end of
#                  the service lane, while the image's release binary still builds
#   IMAGE_LANE_GATES    live gates that assert no timing and run the image's binary: at the end of
#                  the image lane, while the service lane still tests
#   LINT_TARGETS   linters for `make lint`
#   APT_PACKAGES   Debian packages `make deps` installs for the tests
#
# Why lanes: compiling is CPU-bound and the other checks wait mostly on pip, downloads and
# Python start-up, so on two cores they overlap (a fresh clone's `make test` went from 10 min 20 s
# to the figure in README.md); the live gates measure against ground truths of their own and
# get the machine to themselves.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO    ?= cargo
PYTHON   ?= python3
VENV     ?= .venv
PORT     ?= 8080
# Flags passed to `make run`, e.g. make run ARGS="--max-concurrency 10 --access-log".
ARGS     ?=

# Areas append to these (see the top of this file).
CHECK_TARGETS :=
TEST_TARGETS  :=
LIVE_TARGETS  :=
IMAGE_LANE_GATES :=
LINT_TARGETS  :=
APT_PACKAGES  :=

include mk/rust.mk
include mk/venv.mk
include $(filter-out mk/rust.mk mk/venv.mk,$(sort $(wildcard mk/*.mk)))

.PHONY: help
# Targets grouped by the file that defines them; [check] marks what `make check` runs, [test] the
# integration gates `make test` adds after it.
help: ## List the targets
	@awk -v check=" $(CHECK_TARGETS) " -v gates=" $(TEST_TARGETS) $(SERVICE_LANE_GATES) $(IMAGE_LANE_GATES) $(LIVE_TARGETS) " \
	  'BEGIN { FS = ":.*## "; print "Usage: make TARGET [NAME=value ...]   ([check]: part of make check; [test]: an integration gate of make test)" } \
	   FNR == 1 { area = FILENAME == "Makefile" ? "Front door" : FILENAME; shown = 0 } \
	   /^[a-zA-Z0-9_.-]+:.*## / { \
	     if (!shown) { printf "\n%s\n", area; shown = 1 } \
	     tag = index(check, " " $$1 " ") ? "[check] " : (index(gates, " " $$1 " ") ? "[test] " : ""); \
	     printf "  \033[36m%-18s\033[0m %s%s\n", $$1, tag, $$2 }' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the Debian packages the tests need (apt; skipped when present)
	@missing=""; for p in $(sort $(APT_PACKAGES)); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The Rust checks compile, the others do not: two lanes, each in order, side by side.
RUST_CHECKS   = $(filter $(RUST_CHECK_TARGETS),$(CHECK_TARGETS))
PYTHON_CHECKS = $(filter-out $(RUST_CHECK_TARGETS),$(CHECK_TARGETS))
# Each lane's output is printed whole when the lane ends, so the two never interleave.
LANES    = $(MAKE) --no-print-directory -j2 --output-sync=recurse
LANES3   = $(MAKE) --no-print-directory -j3 --output-sync=recurse
# Inside a lane, targets run one after another, in the order given. (`+`: make passes its jobserver
# only to recipes that name $(MAKE) themselves, not through a variable.)
IN_ORDER = $(MAKE) --no-print-directory ONE_AT_A_TIME=1
ifdef ONE_AT_A_TIME
.NOTPARALLEL:
endif

.PHONY: check check-rust check-python
check: ## The fast inner loop: rustfmt, clippy, cargo test, ruff, mypy, pure-Python tests (no apt)
	+$(LANES) check-rust check-python
	@echo "make check: all fast checks passed"

check-rust:
	+$(IN_ORDER) $(RUST_CHECKS)

check-python:
	+$(IN_ORDER) $(PYTHON_CHECKS)

# `deps` first, so every lane finds its tools; a failed check stops CI before the live gates.
# The service lane ends with the binaries the live gates run (SERVICE_BUILDS); the image's static
# release binary builds in a lane of its own, beside it: it has a target folder of its own (no
# cargo lock between them), and its link-time optimisation runs on one core while the other
# compiles the tests.
.PHONY: test test-service-lane test-tools-lane test-image-lane test-gates
test: ## Run every test: deps, check, then the integration gates (what CI runs)
	$(MAKE) --no-print-directory deps
	+$(LANES3) test-service-lane test-tools-lane test-image-lane
	+$(IN_ORDER) $(LIVE_TARGETS)
	@echo "make test: all checks passed"

test-service-lane: check-rust
	+$(IN_ORDER) $(SERVICE_BUILDS) $(SERVICE_LANE_GATES)

test-image-lane:
	+$(IN_ORDER) image-binary $(IMAGE_LANE_GATES)

test-tools-lane: check-python
	+$(IN_ORDER) $(TEST_TARGETS)

test-gates: ## The integration gates alone (make test runs check first)
	+$(IN_ORDER) $(TEST_TARGETS) $(SERVICE_LANE_GATES) $(IMAGE_LANE_GATES) $(LIVE_TARGETS)

# A test that passes only sometimes is a failing test: this finds them before CI does.
.PHONY: test-flakes
test-flakes: ## Repeat the suites: cargo test RUST_RUNS=20 times with the other cores busy, each live gate LIVE_RUNS=5 times
	$(MAKE) --no-print-directory deps
	+$(IN_ORDER) image-binary $(SERVICE_BUILDS)
	MAKE="$(MAKE)" CARGO="$(CARGO)" scripts/test-flakes.sh $(or $(GATES),$(SERVICE_LANE_GATES) $(IMAGE_LANE_GATES) $(LIVE_TARGETS))

.PHONY: lint
lint: $(LINT_TARGETS) ## Run every linter
