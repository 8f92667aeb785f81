"""The servers' records (docs/records.md) as a table: instance logs -> `records.parquet` in a run
folder (`store`), and the questions in loadtests/queries/ run over it with DuckDB (`queries`).
`delay-echo-records` is the command (`__main__`, `commands`)."""
