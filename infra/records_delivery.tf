# How records travel, per service region: the service's log group -> a subscription filter that
# passes only record lines -> a Firehose stream in the same region (CloudWatch Logs delivers to
# a stream of its own region only) that unpacks CloudWatch's gzip batches, keeps each event's
# message, converts it to Parquet against the Glue table and writes it to the region's bucket.
#
# The service writes the records with --access-log (records_layout.tf turns it on).

locals {
  # The application log group of each service that collects records. App Runner names it after
  # the service ID (one stream per instance, instance/<id>) and creates it at the first
  # deployment, so its filter follows the service; ECS writes to the group ecs.tf creates.
  records_log_groups = merge(
    {
      for r, s in aws_apprunner_service.this :
      r => "/aws/apprunner/${var.name}/${s.service_id}/application" if contains(local.records_regions, r)
    },
    { for r, g in aws_cloudwatch_log_group.ecs : r => g.name if contains(local.records_regions, r) },
  )
}

# ---------------------------------------------------------------------------------------------
# Firehose: one stream per region
# ---------------------------------------------------------------------------------------------

resource "aws_kinesis_firehose_delivery_stream" "records" {
  for_each = toset(local.records_regions)

  #checkov:skip=CKV_AWS_241:Records stay in the stream only for the buffer interval, encrypted with an AWS owned key; a customer managed key would add a key policy and per-request KMS cost to synthetic study data.
  region      = each.key
  name        = "${var.name}-records"
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = "AWS_OWNED_CMK"
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.records_firehose[0].arn
    bucket_arn          = aws_s3_bucket.records[each.key].arn
    prefix              = local.records_prefix[each.key]
    error_output_prefix = local.records_error_prefix[each.key]
    # 64 MB is the least Firehose takes with format conversion; the interval decides in practice.
    buffering_size     = 64
    buffering_interval = var.records_buffer_seconds
    # Parquet compresses its own pages (SNAPPY below); the object itself stays uncompressed.
    compression_format = "UNCOMPRESSED"

    # The order matters: CloudWatch Logs sends gzip batches of events, which must be unpacked
    # before the message of each event can be taken out of the batch's envelope.
    processing_configuration {
      enabled = true

      processors {
        type = "Decompression"
        parameters {
          parameter_name  = "CompressionFormat"
          parameter_value = "GZIP"
        }
      }

      processors {
        type = "CloudWatchLogProcessing"
        parameters {
          parameter_name  = "DataMessageExtraction"
          parameter_value = "true"
        }
      }
    }

    data_format_conversion_configuration {
      enabled = true

      input_format_configuration {
        deserializer {
          open_x_json_ser_de {}
        }
      }

      output_format_configuration {
        serializer {
          parquet_ser_de {
            compression = "SNAPPY"
          }
        }
      }

      # The table lives in aws_region; Firehose reads its columns from there.
      schema_configuration {
        region        = var.aws_region
        database_name = aws_glue_catalog_table.records[0].database_name
        table_name    = aws_glue_catalog_table.records[0].name
        role_arn      = aws_iam_role.records_firehose[0].arn
        version_id    = "LATEST"
      }
    }
  }

  # The role must be able to write and read the table before the stream's first delivery.
  depends_on = [aws_iam_role_policy.records_firehose]
}

resource "aws_cloudwatch_log_subscription_filter" "records" {
  for_each = local.records_log_groups

  region          = each.key
  name            = "${var.name}-records"
  log_group_name  = each.value
  filter_pattern  = local.records_filter_pattern
  destination_arn = aws_kinesis_firehose_delivery_stream.records[each.key].arn
  role_arn        = aws_iam_role.records_logs[0].arn

  # CloudWatch Logs sends a test message when the filter is created: the role needs its policy.
  depends_on = [aws_iam_role_policy.records_logs]
}

# ---------------------------------------------------------------------------------------------
# Identities: CloudWatch Logs may put into the streams; Firehose may write the buckets' two
# prefixes and read the table. Nothing else, and nothing on "*".
# ---------------------------------------------------------------------------------------------

data "aws_iam_policy_document" "records_logs_trust" {
  count = var.records_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["logs.amazonaws.com"]
    }
    # Only CloudWatch Logs acting for this account in a collecting region (confused deputy).
    condition {
      test     = "StringLike"
      variable = "aws:SourceArn"
      values   = [for r in local.records_regions : "arn:${local.partition}:logs:${r}:${local.account_id}:*"]
    }
  }
}

resource "aws_iam_role" "records_logs" {
  count = var.records_enabled ? 1 : 0

  name               = "${var.name}-records-logs"
  description        = "Lets CloudWatch Logs put ${var.name}'s record lines into its records Firehose streams."
  assume_role_policy = data.aws_iam_policy_document.records_logs_trust[0].json
}

data "aws_iam_policy_document" "records_logs" {
  count = var.records_enabled ? 1 : 0

  statement {
    sid       = "PutIntoTheRecordStreams"
    actions   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
    resources = [for s in aws_kinesis_firehose_delivery_stream.records : s.arn]
  }
}

resource "aws_iam_role_policy" "records_logs" {
  count = var.records_enabled ? 1 : 0

  name   = "put-records"
  role   = aws_iam_role.records_logs[0].id
  policy = data.aws_iam_policy_document.records_logs[0].json
}

data "aws_iam_policy_document" "records_firehose_trust" {
  count = var.records_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    # Firehose passes the account as the external ID when it assumes a role for a stream.
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "records_firehose" {
  count = var.records_enabled ? 1 : 0

  name               = "${var.name}-records-firehose"
  description        = "Lets the ${var.name} records Firehose streams write Parquet to the records buckets and read the Glue table."
  assume_role_policy = data.aws_iam_policy_document.records_firehose_trust[0].json
}

data "aws_iam_policy_document" "records_firehose" {
  count = var.records_enabled ? 1 : 0

  statement {
    sid = "FindTheBuckets"
    actions = [
      "s3:GetBucketLocation",
      "s3:ListBucket",
      "s3:ListBucketMultipartUploads",
    ]
    resources = [for b in aws_s3_bucket.records : b.arn]
  }

  statement {
    sid = "WriteRecordsAndErrors"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:GetObject",
      "s3:PutObject",
    ]
    resources = flatten([for b in aws_s3_bucket.records : ["${b.arn}/records/*", "${b.arn}/errors/*"]])
  }

  statement {
    sid = "ReadTheTableSchema"
    actions = [
      "glue:GetTable",
      "glue:GetTableVersion",
      "glue:GetTableVersions",
    ]
    resources = [
      "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:catalog",
      "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:database/${local.records_database}",
      "arn:${local.partition}:glue:${var.aws_region}:${local.account_id}:table/${local.records_database}/${local.records_table}",
    ]
  }
}

resource "aws_iam_role_policy" "records_firehose" {
  count = var.records_enabled ? 1 : 0

  name   = "write-records"
  role   = aws_iam_role.records_firehose[0].id
  policy = data.aws_iam_policy_document.records_firehose[0].json
}
