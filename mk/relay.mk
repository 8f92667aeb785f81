# Relay hops (issue 11): the figure for what one hop adds on loopback. A benchmark, not part
# of `make test` (timings are not pass/fail); the behaviour is tested in tests/relay.rs.

RELAY_BENCH_ARGS ?=

.PHONY: bench-relay
bench-relay: build ## p50/p99 latency one relay hop adds over a direct request on loopback (wrk; about 40 s)
	$(PYTHON) bench/relay_hop.py --binary target/release/delay-echo $(RELAY_BENCH_ARGS)
