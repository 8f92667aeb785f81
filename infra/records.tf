# Where the records rest and how they are asked: one bucket per service region (its Firehose
# stream writes there, so no record leaves its region on the way in), one Glue table in
# aws_region that spans every bucket through partition projection, and an Athena workgroup whose
# named queries are the SQL files the local tests run on DuckDB. Athena reads the other regions'
# buckets across regions (https://docs.aws.amazon.com/athena/latest/ug/querying-across-regions.html:
# S3 data transfer is charged per query; the Parquet objects are small).
#
# The shape (regions, key prefixes, columns, queries) is in records_layout.tf; the delivery
# (subscription filters, Firehose, their roles) in records_delivery.tf.

locals {
  # Bucket names are global: the account and region make them unique, the region last so a
  # projection template can put it there. The Glue database takes underscores (Athena quoting).
  records_bucket_stem = "${var.name}-records-${local.account_id}"
  records_buckets     = { for r in local.records_regions : r => "${local.records_bucket_stem}-${r}" }
  records_database    = replace("${var.name}_records", "-", "_")
  records_table       = "records"
  records_results     = "athena-results/"
}

resource "aws_s3_bucket" "records" {
  for_each = local.records_buckets

  #checkov:skip=CKV_AWS_18:Firehose is the only writer and Athena the only reader; server access logs would need another bucket per region for no question a study asks.
  #checkov:skip=CKV_AWS_144:The records are derived from CloudWatch Logs and expire after records_retention_days; a replica in another region would double the cost of a study's data.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new objects: Athena reads them through partition projection, no event notification is needed.
  region        = each.key
  bucket        = each.value
  force_destroy = true # study data: make infra-destroy removes the records with the stack

  lifecycle {
    precondition {
      condition     = length(each.value) <= 63
      error_message = "The records bucket name ${each.value} is longer than S3's 63 characters; shorten name."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "records" {
  for_each = aws_s3_bucket.records

  region                  = each.key
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "records" {
  for_each = aws_s3_bucket.records

  region = each.key
  bucket = each.value.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

# SSE-KMS with the AWS managed key aws/s3: its key policy lets every principal of the account use
# it through S3, so neither Firehose's role nor Athena needs a KMS grant; the bucket key keeps
# the KMS requests to about one per object batch.
resource "aws_s3_bucket_server_side_encryption_configuration" "records" {
  for_each = aws_s3_bucket.records

  region = each.key
  bucket = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "records" {
  for_each = aws_s3_bucket.records

  region = each.key
  bucket = each.value.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Everything expires: records and errors after records_retention_days (the table's date range
# reaches exactly that far back), overwritten versions a day later, stalled uploads after a day.
resource "aws_s3_bucket_lifecycle_configuration" "records" {
  for_each = aws_s3_bucket.records

  region = each.key
  bucket = each.value.id

  rule {
    id     = "expire"
    status = "Enabled"
    filter {}

    expiration {
      days = var.records_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.records]
}

# Only TLS: the records carry nothing secret, but nothing needs plain HTTP either.
data "aws_iam_policy_document" "records_bucket" {
  for_each = local.records_buckets

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["arn:${local.partition}:s3:::${each.value}", "arn:${local.partition}:s3:::${each.value}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "records" {
  for_each = aws_s3_bucket.records

  region = each.key
  bucket = each.value.id
  policy = data.aws_iam_policy_document.records_bucket[each.key].json

  depends_on = [aws_s3_bucket_public_access_block.records]
}

# ---------------------------------------------------------------------------------------------
# Glue: one table over every region's bucket
# ---------------------------------------------------------------------------------------------

resource "aws_glue_catalog_database" "records" {
  count = var.records_enabled ? 1 : 0

  name        = local.records_database
  description = "delay-echo records (docs/records.schema.json), one table per record version."
}

resource "aws_glue_catalog_table" "records" {
  count = var.records_enabled ? 1 : 0

  name          = local.records_table
  database_name = aws_glue_catalog_database.records[0].name
  description   = "delay-echo records v1: one row per --access-log record, written by Firehose as Parquet."
  table_type    = "EXTERNAL_TABLE"

  # Partition projection: Athena computes the partitions from these ranges instead of reading
  # them from the catalogue, so nothing (no crawler, no MSCK REPAIR) has to register new days.
  # The template names every region's bucket; the region in the key repeats it so a listing
  # of a bucket says what it holds.
  parameters = {
    EXTERNAL                       = "TRUE"
    classification                 = "parquet"
    "projection.enabled"           = "true"
    "projection.log_region.type"   = "enum"
    "projection.log_region.values" = join(",", local.records_regions)
    "projection.dt.type"           = "date"
    "projection.dt.format"         = "yyyy-MM-dd"
    "projection.dt.range"          = "NOW-${var.records_retention_days}DAYS,NOW"
    "projection.dt.interval"       = "1"
    "projection.dt.interval.unit"  = "DAYS"
    "storage.location.template"    = "s3://${local.records_bucket_stem}-$${log_region}/records/log_region=$${log_region}/dt=$${dt}/"
  }

  dynamic "partition_keys" {
    for_each = local.records_partition_keys
    content {
      name = partition_keys.value
      type = "string"
    }
  }

  storage_descriptor {
    location      = "s3://${local.records_buckets[var.aws_region]}/records/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        "serialization.format" = "1"
      }
    }

    dynamic "columns" {
      for_each = local.records_columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

# ---------------------------------------------------------------------------------------------
# Athena: a workgroup with its result location enforced, and the named queries
# ---------------------------------------------------------------------------------------------

resource "aws_athena_workgroup" "records" {
  count = var.records_enabled ? 1 : 0

  name          = "${var.name}-records"
  description   = "Queries over the delay-echo records (${local.records_database}.${local.records_table})."
  force_destroy = true # its query history goes with the stack

  configuration {
    # Clients cannot pick another result location or turn encryption off.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true

    result_configuration {
      output_location = "s3://${local.records_buckets[var.aws_region]}/${local.records_results}"

      # SSE_S3: Athena's SSE_KMS needs a key ARN, and the AWS managed aws/s3 key only exists
      # once S3 first used it, which a fresh account's first apply cannot count on.
      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }
}

resource "aws_athena_named_query" "records" {
  for_each = var.records_enabled ? local.records_queries : {}

  name        = each.key
  workgroup   = aws_athena_workgroup.records[0].id
  database    = aws_glue_catalog_database.records[0].name
  description = "loadtests/queries/${each.key}.sql over ${local.records_database}.${local.records_table}"
  query       = each.value
}
