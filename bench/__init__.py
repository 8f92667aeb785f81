"""The benchmark harness behind `make bench`: delay-echo beside two reference servers and the
floor of its own stack, every run bounded and on loopback. Run it as `python -m bench`; see
bench/README.md for how to read the results.

Modules: harness (scenarios S0-S4 and the command line), loadgen (wrk, oha, h2load), procs
(servers and their cost from /proc), coldstart (S3's poller and first requests), results (the
typed records), report (verdicts and Markdown) and profile (a `--perf` profile by component).
"""
