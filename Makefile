# delay-echo: the front door. `make help` lists every target.
# Each area (image, infra, load tests, benchmarks) adds its targets in mk/<area>.mk and appends
# its checks to TEST_TARGETS and its Debian needs to APT_PACKAGES, so this file stays small.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO    ?= cargo
PYTHON   ?= python3
VENV     ?= .venv
PORT     ?= 8080
# Flags passed to `make run`, e.g. make run ARGS="--max-concurrency 10 --access-log".
ARGS     ?=

# Areas append to these.
TEST_TARGETS :=
APT_PACKAGES :=
LINT_TARGETS :=

include mk/rust.mk
include mk/venv.mk
include $(filter-out mk/rust.mk mk/venv.mk,$(sort $(wildcard mk/*.mk)))

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the Debian packages the tests need (apt; skipped when present)
	@missing=""; for p in $(sort $(APT_PACKAGES)); do dpkg -s "$$p" >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

.PHONY: test
test: deps $(TEST_TARGETS) ## Run every test (what CI runs)
	@echo "make test: all checks passed"

.PHONY: lint
lint: $(LINT_TARGETS) ## Run every linter
