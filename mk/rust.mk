# The service: build, run, unit and integration tests, Rust lints.

APT_PACKAGES += prometheus iproute2
# The checks that compile: `make check` runs them in a lane of their own (Makefile).
RUST_CHECK_TARGETS := lint-rust test-rust
CHECK_TARGETS += $(RUST_CHECK_TARGETS) check-modules
LINT_TARGETS += lint-rust

# The binary the live gates run: the image's own (static, built by scripts/image/build-static.sh
# exactly as the Dockerfile builds it), so they test what ships and `make test` compiles the
# release profile once, not once for target/release and again for the image. `make build` stays
# the binary for `make run` and the *-local rehearsals.
SERVICE_BIN = $(IMAGE_BINARY)
# The lab's user-space network link (src/bin/delay-echo-link.rs), for the live gates whose
# emulated networks need it (a kernel without netem). The dev profile: it shares every dependency
# `cargo test --all-targets` compiled, so only the crate is compiled again (2 s warm, 6 s fresh;
# a release build took 25 s warm, 1 min 49 s fresh). Its floor in the mesh rehearsal is about
# 0.07 ms higher than a release link's, and the gates judge against the floor of the same run.
LINK_BIN = target/debug/delay-echo-link
# What the service lane of `make test` builds for the live gates, beside the image's binary (its
# own lane: Makefile); areas append. SERVICE_LANE_GATES: live gates that assert no timing, so they
# run on the dev binary at the end of the service lane while the image's binary still builds.
SERVICE_BUILDS := link-binary dev-binary
SERVICE_LANE_GATES :=

.PHONY: build
build: ## Build the release binaries (target/release/delay-echo and the lab's delay-echo-link)
	$(CARGO) build --release --locked

# The service's dev build (target/debug/delay-echo): what k8scheck asks for its metrics and
# settings, and what the gates that assert no timing run (SERVICE_LANE_GATES). After `cargo test`
# it compiles only the crate's binary.
DEV_BIN = target/debug/delay-echo

.PHONY: dev-binary
dev-binary: ## Build the service's dev binary (target/debug/delay-echo)
	$(CARGO) build --locked --bin delay-echo

.PHONY: link-binary
link-binary: ## Build the lab's user-space link for the live gates (target/debug/delay-echo-link)
	$(CARGO) build --locked --bin delay-echo-link

.PHONY: run
run: ## Run the service on 0.0.0.0:$(PORT) with the 80 ms default delay
	PORT=$(PORT) $(CARGO) run --release --locked -- $(ARGS)

.PHONY: test-rust
test-rust: ## Service tests: unit, integration (real sockets), property tests, promtool
	$(CARGO) test --locked --all-targets

.PHONY: lint-rust
lint-rust: ## rustfmt and clippy, warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# No import circle between src/'s modules: a stand-in for `cargo modules dependencies --lib
# --acyclic`, which builds rust-analyzer first (ARCHITECTURE.md, "Written by hand where a library
# exists"). Reads the source, compiles nothing, so it runs in the Python lane of `make check`.
.PHONY: check-modules
check-modules: $(VENV)/.stamp ## No import circle between the service's modules (scripts/modcycles.py), and the check's own tests
	$(PYTHON) scripts/modcycles.py src
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider tests/test_modcycles.py
