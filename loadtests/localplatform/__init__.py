"""A local platform on real parts, to rehearse an autoscaling policy before paying for one.

HAProxy (Debian's) balances, changed at run time through its runtime API; delay-echo processes are the
instances, their cold start delay-echo's own `--startup-delay`; an autoscaler applies a published policy
(Knative's KPA, Kubernetes' HPA, App Runner's concurrency rule, a fixed schedule) to their /metrics and
HAProxy's stats; everything it decides and every instance's life goes to platform.jsonl in the run
folder. Entry point: `python -m loadtests.localplatform run` (`make platform-local`, `make loadtest-local`).
"""
