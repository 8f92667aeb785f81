"""locust as the lab's second load generator.

k6 stays the reference (open model: arrivals do not wait for answers). locust is here because many
users already know it and its distributed mode spreads users over machines. Both read the same
profiles: the runner resolves a profile with `k6 inspect` (the same knobs, defaults and validation
as a k6 run), and the locust users carry that planned arrival rate. The run folder has the same
`run.json`, `options.json` and per-request samples (`raw.csv.gz`, in the columns of k6's CSV output
that the analysis reads), so `make report` and `make compare` work on either.
"""
