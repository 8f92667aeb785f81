# The records pipeline's shape: which regions collect, where objects land, the Glue columns and
# the named queries. Locals over variables and repository files only (no resources, no data
# sources), so tests evaluate them with `terraform console` on this file, mesh.tf and
# variables.tf alone, as they do the mesh; records.tf and records_delivery.tf build from them.
#
# The one contract read here is the record (docs/records.schema.json, guide docs/records.md);
# the columns below follow its properties in order, and the tests hold them to it.

locals {
  # Every service region collects its own records; the store and the queries live in aws_region.
  records_regions = var.records_enabled ? local.service_regions : []

  # The service writes records to stderr with --access-log; App Runner and the awslogs driver
  # both ship stderr to the log group the subscription filter reads.
  records_environment = var.records_enabled ? { DELAY_ECHO_ACCESS_LOG = "true" } : {}

  # Objects sit in their region's bucket under Hive-style keys, the region first. The date is
  # Firehose's arrival day (UTC), so no dynamic partitioning (which would need a
  # MetadataExtraction processor and partitioning_configuration) is involved: the region is a
  # constant of each regional stream. Errors keep the same keys under their own root, with
  # Firehose's error type (format-conversion-failed, ...) after the region.
  records_prefix       = { for r in local.records_regions : r => "records/log_region=${r}/dt=!{timestamp:yyyy-MM-dd}/" }
  records_error_prefix = { for r in local.records_regions : r => "errors/log_region=${r}/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/" }

  # Partition keys must not repeat a column: the record has its own "region" (the instance's
  # --region), hence log_region for the region whose log group the record came from.
  records_partition_keys = ["log_region", "dt"]

  # docs/records.schema.json's properties, in its order, as Hive types. Integers that count
  # (seq) are bigint; legs keep the leg object's field order, which UNNEST ... AS l (peer, status,
  # rtt_ms, peer_total_ms, network_ms) in loadtests/queries relies on.
  records_columns = [
    { name = "v", type = "int" },
    { name = "event", type = "string" },
    { name = "ts", type = "string" },
    { name = "t_unix", type = "double" },
    { name = "instance", type = "string" },
    { name = "region", type = "string" },
    { name = "method", type = "string" },
    { name = "path", type = "string" },
    { name = "status", type = "int" },
    { name = "seq", type = "bigint" },
    { name = "queue_ms", type = "double" },
    { name = "sleep_ms", type = "double" },
    { name = "cpu_ms", type = "double" },
    { name = "total_ms", type = "double" },
    { name = "cache", type = "string" },
    { name = "legs", type = "array<struct<peer:string,status:int,rtt_ms:double,peer_total_ms:double,network_ms:double>>" },
    { name = "address", type = "string" },
    { name = "version", type = "string" },
    { name = "startup_delay_ms", type = "double" },
    { name = "drain_delay_ms", type = "double" },
  ]

  # One named query per SQL file, read from the files the local tests run on DuckDB: a new file
  # is a new named query, an edited one is updated in place.
  records_queries_dir = "${path.module}/../loadtests/queries"
  records_queries = {
    for f in fileset(local.records_queries_dir, "*.sql") : trimsuffix(f, ".sql") => file("${local.records_queries_dir}/${f}")
  }

  # Only record lines reach Firehose: JSON with "v": 1. Other log lines (no "v", or not JSON)
  # stay in CloudWatch Logs.
  records_filter_pattern = "{ $.v = 1 }"
}
