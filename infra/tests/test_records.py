"""Issue 21 point 3: the records pipeline in AWS (records_enabled), on the parsed Terraform and,
for what depends on variables, on Terraform's own evaluation of records_layout.tf.

What a user relies on: only record lines leave the log group; Firehose unpacks CloudWatch's
batches before it takes the messages out (the order matters); the Glue table has exactly the
record schema's columns, so Parquet conversion keeps every field; objects land where the table's
partition projection looks; every SQL file the local tests run is a named query with the same
text; the identities reach only the streams, buckets and table they serve. The provider-schema
check (test_schemacheck) and checkov (test_checkov, with records on) cover the rest.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infra.tests.conftest import FIXTURES, INFRA

ROOT = INFRA.parent
SCHEMA = ROOT / "docs" / "records.schema.json"
QUERIES = ROOT / "loadtests" / "queries"
TERRAFORM = shutil.which("terraform")
REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2"]
SUBJECTS = '["repo:org/repo:ref:refs/heads/main"]'
needs_terraform = pytest.mark.skipif(
    TERRAFORM is None, reason="terraform is not on PATH (the parsed-HCL tests still run)"
)


def res(stack, rtype, name="records"):
    return stack["resource"][rtype][name]


def one(value):
    assert isinstance(value, list) and len(value) == 1, value
    return value[0]


def schema_columns() -> list[tuple[str, str]]:
    """docs/records.schema.json's properties as (name, Hive type), in the schema's order."""
    schema = json.loads(SCHEMA.read_text())

    def hive(prop: dict) -> str:
        kinds = prop.get("type", "integer" if isinstance(prop.get("const"), int) else "string")
        kinds = [k for k in ([kinds] if isinstance(kinds, str) else kinds) if k != "null"]
        if "enum" in prop:
            kinds = ["string"]
        (kind,) = kinds
        if kind == "array":
            ref = prop["items"]["$ref"].rsplit("/", 1)[-1]
            fields = schema["$defs"][ref]["properties"]
            return "array<struct<" + ",".join(f"{n}:{hive(p)}" for n, p in fields.items()) + ">>"
        # Integers: a count that grows without bound (seq) needs 64 bits, the rest fit 32.
        return {"string": "string", "number": "double", "integer": "int"}[kind]

    columns = [(name, hive(prop)) for name, prop in schema["properties"].items()]
    return [(n, "bigint" if n == "seq" else t) for n, t in columns]


def console(
    tmp_path: Path, expressions: list[str], var_file: Path | None = None, **variables
) -> list:
    """Evaluate expressions with Terraform on records_layout.tf, mesh.tf and variables.tf alone.

    The files sit in tmp/infra beside a link to the repository's loadtests/, so file() reads the
    same SQL files as in the repository (records_layout.tf reads ../loadtests/queries).
    """
    module = tmp_path / "infra"
    module.mkdir()
    for name in ("records_layout.tf", "mesh.tf", "variables.tf"):
        shutil.copy(INFRA / name, module / name)
    (tmp_path / "loadtests").symlink_to(ROOT / "loadtests", target_is_directory=True)
    assert TERRAFORM is not None
    args = [TERRAFORM, f"-chdir={module}", "console"]
    args += [f"-var-file={var_file}"] if var_file else [f"-var=github_subjects={SUBJECTS}"]
    args += [f"-var={k}={json.dumps(v)}" for k, v in variables.items()]
    # One expression: terraform console answers a piped script with the last result only.
    stdin = "jsonencode([" + ", ".join(expressions) + "])\n"
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(json.loads(proc.stdout.strip().splitlines()[-1]))


# Terraform's evaluation of the layout --------------------------------------------------------


@needs_terraform
@pytest.mark.parametrize(
    ("tfvars", "collecting"),
    [("records-on.tfvars", ["eu-west-1"]), ("records-on-regions.tfvars", REGIONS)],
    ids=["home-region-only", "three-regions"],
)
def test_with_records_on_every_service_region_collects_into_its_own_prefixes(
    tmp_path, tfvars, collecting
):
    """The tfvars fixtures, evaluated by Terraform (checkov scans infra/ with the regions one)."""
    got, prefix, errors, env, columns, queries = console(
        tmp_path,
        [
            "local.records_regions",
            "local.records_prefix",
            "local.records_error_prefix",
            "local.records_environment",
            "local.records_columns",
            "local.records_queries",
        ],
        var_file=FIXTURES / tfvars,
    )
    assert got == collecting
    assert env == {"DELAY_ECHO_ACCESS_LOG": "true"}
    for r in collecting:
        # Hive-style keys in the order of the table's partition keys; Firehose's arrival day.
        assert prefix[r] == f"records/log_region={r}/dt=!{{timestamp:yyyy-MM-dd}}/"
        # Firehose requires the error type in an error prefix once the prefix has expressions.
        assert errors[r].startswith(f"errors/log_region={r}/")
        assert "!{firehose:error-output-type}" in errors[r]
    # The Glue columns are the record schema's properties, in its order, with their types.
    assert [(c["name"], c["type"]) for c in columns] == schema_columns()
    # One named query per SQL file, with the file's text byte for byte.
    files = {p.stem: p.read_text(encoding="utf-8") for p in sorted(QUERIES.glob("*.sql"))}
    assert {"latency_matrix", "instance_timeline", "per_second"} <= set(files)
    assert queries == files


@needs_terraform
def test_with_records_off_nothing_collects_and_the_service_logs_as_configured(tmp_path):
    got, prefix, env = console(
        tmp_path,
        ["local.records_regions", "local.records_prefix", "local.records_environment"],
        regions=REGIONS,
    )
    assert got == [] and prefix == {} and env == {}


# The parsed stack ----------------------------------------------------------------------------


def test_records_are_off_by_default_and_every_piece_follows_the_switch(stack):
    assert stack["variable"]["records_enabled"]["default"] is False
    assert stack["locals"]["records_regions"] == (
        "${var.records_enabled ? local.service_regions : []}"
    )
    per_region = {
        "aws_kinesis_firehose_delivery_stream": "${toset(local.records_regions)}",
        "aws_s3_bucket": "${local.records_buckets}",
        "aws_cloudwatch_log_subscription_filter": "${local.records_log_groups}",
    }
    for rtype, for_each in per_region.items():
        assert res(stack, rtype)["for_each"] == for_each, rtype
        assert res(stack, rtype)["region"] == "${each.key}", rtype
    assert "for r in local.records_regions" in stack["locals"]["records_buckets"]
    once = ["aws_glue_catalog_database", "aws_glue_catalog_table", "aws_athena_workgroup"]
    once += ["aws_iam_role", "aws_iam_role_policy"]
    for rtype in once:
        names = ["records_logs", "records_firehose"] if rtype.startswith("aws_iam") else ["records"]
        for name in names:
            assert res(stack, rtype, name)["count"] == "${var.records_enabled ? 1 : 0}"
            assert "region" not in res(stack, rtype, name)  # global, or aws_region's
    # The service writes records only when asked; records_enabled asks, over service_environment.
    env = stack["locals"]["environment"]
    assert env.index("var.service_environment") < env.index("local.records_environment")


def test_only_record_lines_go_to_the_same_region_stream(stack):
    f = res(stack, "aws_cloudwatch_log_subscription_filter")
    assert f["filter_pattern"] == "${local.records_filter_pattern}"
    assert stack["locals"]["records_filter_pattern"] == "{ $.v = 1 }"
    assert f["destination_arn"] == "${aws_kinesis_firehose_delivery_stream.records[each.key].arn}"
    assert f["role_arn"] == "${aws_iam_role.records_logs[0].arn}"
    groups = stack["locals"]["records_log_groups"]
    # App Runner's application log group (one stream per instance), ECS Express's awslogs group.
    assert '"/aws/apprunner/${var.name}/${s.service_id}/application"' in groups
    assert "for r, s in aws_apprunner_service.this" in groups
    assert "for r, g in aws_cloudwatch_log_group.ecs : r => g.name" in groups
    ecs = res(stack, "aws_ecs_express_gateway_service", "this")["primary_container"][0]
    assert one(ecs["aws_logs_configuration"])["log_group"] == (
        "${aws_cloudwatch_log_group.ecs[each.key].name}"
    )


def test_firehose_decompresses_then_extracts_messages_then_writes_parquet(stack):
    s3 = one(res(stack, "aws_kinesis_firehose_delivery_stream")["extended_s3_configuration"])
    processing = one(s3["processing_configuration"])
    assert processing["enabled"] is True
    steps = [
        (p["type"], {q["parameter_name"]: q["parameter_value"] for q in p["parameters"]})
        for p in processing["processors"]
    ]
    assert steps == [
        ("Decompression", {"CompressionFormat": "GZIP"}),
        ("CloudWatchLogProcessing", {"DataMessageExtraction": "true"}),
    ]
    conversion = one(s3["data_format_conversion_configuration"])
    assert conversion["enabled"] is True
    deserializer = one(one(conversion["input_format_configuration"])["deserializer"])
    assert list(deserializer) == ["open_x_json_ser_de"]
    serializer = one(one(conversion["output_format_configuration"])["serializer"])
    assert list(serializer) == ["parquet_ser_de"]
    schema = one(conversion["schema_configuration"])
    assert schema["database_name"] == "${aws_glue_catalog_table.records[0].database_name}"
    assert schema["table_name"] == "${aws_glue_catalog_table.records[0].name}"
    assert schema["region"] == "${var.aws_region}"
    # Parquet compresses itself; Firehose refuses another compression with format conversion.
    assert s3["compression_format"] == "UNCOMPRESSED"
    assert s3["buffering_size"] >= 64
    assert s3["bucket_arn"] == "${aws_s3_bucket.records[each.key].arn}"
    assert s3["prefix"] == "${local.records_prefix[each.key]}"
    assert s3["error_output_prefix"] == "${local.records_error_prefix[each.key]}"
    # No dynamic partitioning: the keys are the arrival day and a constant region.
    assert "dynamic_partitioning_configuration" not in s3


def for_value(expression: str) -> str:
    """The value template of a `{for r in ... : r => "..."}` local, as written."""
    m = re.fullmatch(r'\$\{\{for r in local\.records_regions : r => "(.*)"\}\}', expression)
    assert m, expression
    return m.group(1)


def render(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace(name, value)
    assert "${" not in template and "!{" not in template, template
    return template


@pytest.mark.parametrize("region", REGIONS)
def test_athena_looks_where_firehose_writes(stack, region):
    """The projection template, filled with a region and a day, names the bucket and key prefix
    the region's stream writes to on that day."""
    table = res(stack, "aws_glue_catalog_table")
    params = table["parameters"]
    keys = stack["locals"]["records_partition_keys"]
    assert table["dynamic"][0]["partition_keys"]["content"][0]["name"] == "${partition_keys.value}"
    assert table["dynamic"][0]["partition_keys"]["for_each"] == "${local.records_partition_keys}"
    stem = "delay-echo-records-123456789012"
    day = "2026-12-03"
    bucket = render(
        for_value(stack["locals"]["records_buckets"]),
        {"${local.records_bucket_stem}": stem, "${r}": region},
    )
    prefix = render(
        for_value(stack["locals"]["records_prefix"]),
        {"${r}": region, "!{timestamp:yyyy-MM-dd}": day},
    )
    written = f"s3://{bucket}/{prefix}"
    looked_at = render(
        params["storage.location.template"],
        {"${local.records_bucket_stem}": stem, "$${log_region}": region, "$${dt}": day},
    )
    assert looked_at == written
    assert stack["locals"]["records_bucket_stem"] == "${var.name}-records-${local.account_id}"
    # Every partition key is projected; none repeats a column (Athena refuses that).
    assert params["projection.enabled"] == "true"
    assert params["projection.log_region.type"] == "enum"
    assert params["projection.log_region.values"] == '${join(",", local.records_regions)}'
    assert params["projection.dt.type"] == "date"
    assert params["projection.dt.format"] == "yyyy-MM-dd"  # Firehose's !{timestamp:yyyy-MM-dd}
    assert params["projection.dt.range"] == "NOW-${var.records_retention_days}DAYS,NOW"
    assert set(keys) == {"log_region", "dt"}
    assert not set(keys) & {name for name, _ in schema_columns()}


def test_the_table_is_parquet_with_the_layouts_columns(stack):
    table = res(stack, "aws_glue_catalog_table")
    sd = one(table["storage_descriptor"])
    assert sd["input_format"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    assert sd["output_format"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    serde = one(sd["ser_de_info"])["serialization_library"]
    assert serde == "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    columns = sd["dynamic"][0]["columns"]
    assert columns["for_each"] == "${local.records_columns}"
    assert columns["content"][0] == {
        "name": "${columns.value.name}",
        "type": "${columns.value.type}",
    }
    assert table["name"] == "${local.records_table}" and stack["locals"]["records_table"] == (
        "records"  # the name loadtests/queries read
    )


def test_every_sql_file_is_a_named_query_in_the_enforced_workgroup(stack):
    q = res(stack, "aws_athena_named_query")
    assert q["for_each"] == "${var.records_enabled ? local.records_queries : {}}"
    assert q["query"] == "${each.value}"
    assert q["database"] == "${aws_glue_catalog_database.records[0].name}"
    assert q["workgroup"] == "${aws_athena_workgroup.records[0].id}"
    assert 'fileset(local.records_queries_dir, "*.sql")' in stack["locals"]["records_queries"]
    assert stack["locals"]["records_queries_dir"] == "${path.module}/../loadtests/queries"
    config = one(res(stack, "aws_athena_workgroup")["configuration"])
    assert config["enforce_workgroup_configuration"] is True
    result = one(config["result_configuration"])
    assert result["output_location"].startswith("s3://${local.records_buckets[var.aws_region]}/")
    assert one(result["encryption_configuration"])["encryption_option"] in {"SSE_S3", "SSE_KMS"}


def test_the_buckets_are_private_encrypted_and_expire(stack):
    block = res(stack, "aws_s3_bucket_public_access_block")
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls"):
        assert block[flag] is True, flag
    assert block["restrict_public_buckets"] is True
    sse = one(res(stack, "aws_s3_bucket_server_side_encryption_configuration")["rule"])
    assert one(sse["apply_server_side_encryption_by_default"])["sse_algorithm"] == "aws:kms"
    rule = one(res(stack, "aws_s3_bucket_lifecycle_configuration")["rule"])
    assert rule["status"] == "Enabled" and rule["filter"] == [{}]
    assert one(rule["expiration"])["days"] == "${var.records_retention_days}"
    assert one(rule["noncurrent_version_expiration"])["noncurrent_days"] >= 1
    assert one(res(stack, "aws_s3_bucket_ownership_controls")["rule"])["object_ownership"] == (
        "BucketOwnerEnforced"
    )
    deny = one(stack["data"]["aws_iam_policy_document"]["records_bucket"]["statement"])
    assert deny["effect"] == "Deny" and one(deny["condition"])["variable"] == "aws:SecureTransport"


def allow_statements(stack) -> dict[str, list[dict]]:
    """Every Allow statement of every policy document, by document name (dynamic ones too)."""
    found = {}
    for name, doc in stack["data"]["aws_iam_policy_document"].items():
        statements = list(doc.get("statement", []))
        statements += [d["statement"]["content"][0] for d in doc.get("dynamic", [])]
        found[name] = [st for st in statements if st.get("effect", "Allow") == "Allow"]
    return found


def test_nothing_is_granted_on_star_beyond_the_ecr_login(stack):
    on_star = [
        (name, st["actions"])
        for name, statements in allow_statements(stack).items()
        for st in statements
        if st.get("resources") == ["*"]
    ]
    assert on_star == [("ci", ["ecr:GetAuthorizationToken"])]
    actions = [a for sts in allow_statements(stack).values() for st in sts for a in st["actions"]]
    assert not [a for a in actions if a == "*" or a.endswith(":*")], actions


def test_the_record_roles_reach_only_their_streams_buckets_and_table(stack):
    docs = allow_statements(stack)
    logs = one(docs["records_logs"])
    assert logs["actions"] == ["firehose:PutRecord", "firehose:PutRecordBatch"]
    assert logs["resources"] == "${[for s in aws_kinesis_firehose_delivery_stream.records : s.arn]}"
    by_sid = {st["sid"]: st for st in docs["records_firehose"]}
    assert set(by_sid) == {"FindTheBuckets", "WriteRecordsAndErrors", "ReadTheTableSchema"}
    assert by_sid["FindTheBuckets"]["resources"] == "${[for b in aws_s3_bucket.records : b.arn]}"
    # Objects only under the two prefixes the stream writes, and no Delete.
    writes = by_sid["WriteRecordsAndErrors"]
    assert '"${b.arn}/records/*", "${b.arn}/errors/*"' in writes["resources"]
    assert not [a for a in writes["actions"] if "Delete" in a]
    glue = by_sid["ReadTheTableSchema"]
    assert all(a.startswith("glue:GetTable") for a in glue["actions"])
    assert any(
        r.endswith(":table/${local.records_database}/${local.records_table}")
        for r in glue["resources"]
    )
    # Trust: CloudWatch Logs of this account's collecting regions; Firehose for this account.
    logs_trust = one(docs["records_logs_trust"])
    assert one(logs_trust["principals"])["identifiers"] == ["logs.amazonaws.com"]
    assert one(logs_trust["condition"])["variable"] == "aws:SourceArn"
    assert "${local.account_id}" in one(logs_trust["condition"])["values"]
    fh_trust = one(docs["records_firehose_trust"])
    assert one(fh_trust["principals"])["identifiers"] == ["firehose.amazonaws.com"]
    assert one(fh_trust["condition"])["values"] == ["${local.account_id}"]


def test_the_filter_waits_for_its_role_and_the_stream_for_its_policy(stack):
    assert res(stack, "aws_cloudwatch_log_subscription_filter")["depends_on"] == [
        "${aws_iam_role_policy.records_logs}"
    ]
    assert res(stack, "aws_kinesis_firehose_delivery_stream")["depends_on"] == [
        "${aws_iam_role_policy.records_firehose}"
    ]
