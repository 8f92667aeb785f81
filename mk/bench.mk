# Benchmarks: delay-echo beside two reference servers (bench/reference: go-sleep, nginx-echo)
# and the floor of its own stack (hyper-floor).
# `make bench` is never part of `make test` (timings are not pass/fail); the quick mode is, as
# test-bench, so the harness cannot rot. See bench/README.md for how to read the results.

# wrk, Go and nginx with the echo module come from Debian; the quick mode in `make test` runs
# every server, so they are test dependencies too (ss from iproute2 reads the sockets). Its
# open-model client is h2load (nghttp2-client): oha, built from source, is for `make bench` only.
APT_PACKAGES += wrk golang-go nginx libnginx-mod-http-echo iproute2 nghttp2-client
# What building oha needs on top (OpenSSL headers, pkg-config): installed by `make bench-tools`.
BENCH_APT_PACKAGES := libssl-dev pkg-config
CHECK_TARGETS += test-bench-units
# It asserts no timing, so it runs at the end of the image lane (Makefile), beside the service's tests.
IMAGE_LANE_GATES += test-bench
SERVICE_BUILDS += build-floor-dev

TOOLS       ?= .tools
OHA_VERSION := 1.16.0
# One folder per version, so changing OHA_VERSION installs the new one instead of keeping the old.
OHA_ROOT    := $(TOOLS)/oha-$(OHA_VERSION)
OHA         := $(OHA_ROOT)/bin/oha
BENCH_ARGS  ?=
# The reference servers (go-sleep, nginx-echo) ship in the repository.
REFERENCE   ?= bench/reference

BENCH := $(PYTHON) -m bench --reference $(REFERENCE) --oha $(OHA)

# oha for the open-model scenario, pinned and cached under .tools (git-ignored). TLS through
# the system OpenSSL (native-tls) instead of the default rustls: the benchmark speaks plain
# HTTP, oha 1.16 does not build without some TLS, and OpenSSL avoids compiling a crypto
# library. One job on a developer machine, because its two cores are shared; both in CI.
OHA_JOBS ?= $(if $(CI),2,1)
$(OHA):
	CARGO_BUILD_JOBS=$(OHA_JOBS) $(CARGO) install oha --locked --version $(OHA_VERSION) --no-default-features --features native-tls --root $(OHA_ROOT)
	@test -x $@

.PHONY: bench-tools
bench-tools: ## Install what the benchmarks need (Debian packages, oha built under .tools)
	$(MAKE) --no-print-directory deps APT_PACKAGES="$(APT_PACKAGES) $(BENCH_APT_PACKAGES)"
	$(MAKE) --no-print-directory $(OHA)

# The stack floor: the least a hyper/tokio server does for the same job (bench/hyper_floor.rs).
.PHONY: build-floor
build-floor:
	$(CARGO) build --release --locked --example hyper-floor

# The quick mode checks the harness, not the figures, so test-bench runs the floor as a dev build:
# it reuses what `cargo test` compiled (seconds) where the release one is half a minute of LTO.
FLOOR_DEV := target/debug/examples/hyper-floor
.PHONY: build-floor-dev
build-floor-dev:
	$(CARGO) build --locked --example hyper-floor

# delay-echo as it ships: the image's static binary (SERVICE_BIN, built as the Dockerfile builds
# it), not `make build`'s, which maps glibc's shared libraries beside it. A --binary in BENCH_ARGS
# comes last and wins.
.PHONY: bench
bench: bench-tools image-binary build-floor ## Benchmark delay-echo against go-sleep, nginx-echo and hyper-floor (about 10 min); writes bench/results/latest.md
	$(BENCH) --binary $(CURDIR)/$(SERVICE_BIN) $(BENCH_ARGS)

.PHONY: bench-quick
bench-quick: image-binary build-floor ## The benchmark with a second or two per run, h2load for S1 (checks the harness, not the figures)
	$(PYTHON) -m bench --reference $(REFERENCE) --quick --binary $(CURDIR)/$(SERVICE_BIN) $(BENCH_ARGS)

# Allocation counts do not depend on the machine's load, so they are read from the dev build
# `cargo test` compiles (tests/allocations.rs; its bounds run in every `cargo test`).
.PHONY: bench-allocs
bench-allocs: ## Allocations per request and per connection: delay-echo beside hyper-floor (bench/README.md)
	$(CARGO) test --locked --test tests allocations::allocation_figures -- --ignored --nocapture 2>&1 | grep '^|'

.PHONY: test-bench-units
test-bench-units: $(VENV)/.stamp ## Harness unit tests: parsers, percentiles, verdicts, the report (no servers)
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "not live" bench/tests

.PHONY: test-bench
test-bench: $(VENV)/.stamp image-binary build-floor-dev ## A quick run of the harness: every scenario and server for a second or two
	BENCH_REFERENCE=$(REFERENCE) BENCH_BINARY=$(CURDIR)/$(SERVICE_BIN) BENCH_FLOOR_BINARY=$(CURDIR)/$(FLOOR_DEV) \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m live bench/tests
