# Fuzzing (issue 22): cargo-fuzz/libFuzzer targets over every parser a client or a peer reaches
# (fuzz/). Not in `make check` or `make test`: those replay the committed corpus through the same
# properties in `cargo test` (tests/fuzz_corpus.rs), with no libFuzzer and no nightly flags.
#
#   make fuzz FUZZ_SECONDS=30              each target for 30 s, one after another
#   make fuzz FUZZ_RUNS=10000000           each target for ten million executions (the long runs)
#   make fuzz FUZZ_TARGETS="knobs hops"    only these
#   make fuzz FUZZ_SANITIZER=none          without AddressSanitizer: about 4 times the executions
#                                          per second (the long runs; see below)
#   make fuzz-cmin                         fold what the runs found into fuzz/corpus/, minimised
#
# Kept whole, beside the minimised corpus: fuzz/seeds/<target>/, the examples of docs/api.md, and
# fuzz/regressions/<target>/, the inputs of past findings, each named for what it found; the runs
# read them as seeds and `cargo test` replays them with the corpus.

FUZZ_TARGETS ?= knobs cache_policy hops config_body server_timing chain request
FUZZ_SECONDS ?= 60
# An execution count instead of a time (libFuzzer's -runs); set, it wins over FUZZ_SECONDS.
FUZZ_RUNS    ?=
TOOLS        ?= .tools
CARGO_FUZZ_VERSION := 0.13.1
CARGO_FUZZ   := $(TOOLS)/cargo-fuzz-$(CARGO_FUZZ_VERSION)/bin/cargo-fuzz
# cargo-fuzz passes nightly-only rustc flags (-Zsanitizer=address, …); the stable toolchain ships
# the sanitizer runtimes, and RUSTC_BOOTSTRAP=1 lets it accept those flags without a nightly.
# -O -a: optimised, with debug assertions and overflow checks, so an overflow is a finding.
FUZZ_CARGO   := RUSTC_BOOTSTRAP=1 $(CARGO_FUZZ)
# AddressSanitizer (the default) finds memory errors in unsafe code. The parsers the targets reach
# are safe Rust (the crate's unsafe is in syscalls: the timer, CPU time, memory trimming, none of
# which a target calls), where the language already checks bounds, and -a keeps overflow checks
# and debug assertions; so the ten-million runs may go without it (`none`), in a target folder
# of their own so that neither build replaces the other.
FUZZ_SANITIZER ?= address
FUZZ_BUILD   := -O -a -s $(FUZZ_SANITIZER) $(if $(filter none,$(FUZZ_SANITIZER)),--target-dir fuzz/target-nosan)

$(CARGO_FUZZ):
	$(CARGO) install --locked --root $(TOOLS)/cargo-fuzz-$(CARGO_FUZZ_VERSION) cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	@test -x $@

.PHONY: fuzz fuzz-cmin
fuzz: $(CARGO_FUZZ) ## Fuzz each parser in turn (FUZZ_SECONDS=60 or FUZZ_RUNS=N each; FUZZ_TARGETS=…); per target its executions and outcome
	RUSTC_BOOTSTRAP=1 CARGO_FUZZ="$(CARGO_FUZZ)" FUZZ_BUILD="$(FUZZ_BUILD)" fuzz/run.sh "$(FUZZ_SECONDS)" "$(FUZZ_RUNS)" $(FUZZ_TARGETS)

# The committed corpus is the smallest set that covers every edge the inputs reach (set cover,
# hit counts ignored), so it stays a few hundred small files a replay checks in well under a
# second; a long run grows its own, richer corpus in fuzz/target/found/ from it.
fuzz-cmin: $(CARGO_FUZZ) ## Merge what `make fuzz` found (fuzz/target/found/) into fuzz/corpus/, minimised with cargo fuzz cmin
	for t in $(FUZZ_TARGETS); do \
	  if [ -d fuzz/target/found/$$t ]; then cp -n fuzz/target/found/$$t/* fuzz/corpus/$$t/ 2>/dev/null || true; fi; \
	  $(FUZZ_CARGO) fuzz cmin $(FUZZ_BUILD) $$t fuzz/corpus/$$t -- -set_cover_merge=1 -use_counters=0 >fuzz/target/logs/cmin-$$t.log 2>&1 \
	    || { tail -20 fuzz/target/logs/cmin-$$t.log; exit 1; }; \
	  echo "$$t: $$(ls fuzz/corpus/$$t | wc -l) files, $$(cat fuzz/corpus/$$t/* | wc -c) bytes"; \
	done
