# The service: build, run, unit and integration tests, Rust lints.

APT_PACKAGES += prometheus iproute2
CHECK_TARGETS += lint-rust test-rust
LINT_TARGETS += lint-rust

.PHONY: build
build: ## Build the release binary (target/release/delay-echo)
	$(CARGO) build --release --locked

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
