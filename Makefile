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
#   TEST_TARGETS   integration gates, run by `make test` after `check`
#   LINT_TARGETS   linters for `make lint`
#   APT_PACKAGES   Debian packages `make deps` installs for the tests

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
LINT_TARGETS  :=
APT_PACKAGES  :=

include mk/rust.mk
include mk/venv.mk
include $(filter-out mk/rust.mk mk/venv.mk,$(sort $(wildcard mk/*.mk)))

.PHONY: help
# Targets grouped by the file that defines them; [check] marks what `make check` runs, [test] the
# integration gates `make test` adds after it.
help: ## List the targets
	@awk -v check=" $(CHECK_TARGETS) " -v gates=" $(TEST_TARGETS) " \
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

.PHONY: check
check: $(CHECK_TARGETS) ## The fast inner loop: rustfmt, clippy, cargo test, ruff, mypy, pure-Python tests (no apt)
	@echo "make check: all fast checks passed"

# `deps` and `check` first, in this order, so a fast failure stops CI before the slow gates.
.PHONY: test
test: ## Run every test: deps, check, then the integration gates (what CI runs)
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory check
	$(MAKE) --no-print-directory test-gates
	@echo "make test: all checks passed"

.PHONY: test-gates
test-gates: $(TEST_TARGETS)

.PHONY: lint
lint: $(LINT_TARGETS) ## Run every linter
