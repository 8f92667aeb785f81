"""The provider-schema checker: infra/ and infra/cloudrun pass, each rule fires on a fixture that
breaks it, and what Terraform accepts (list-of-object attributes either way) passes."""

from __future__ import annotations

import pytest

from infra.tests.conftest import CLOUDRUN, FIXTURES, INFRA, SCHEMAS
from infra.tfcheck import schemacheck


@pytest.fixture(scope="module", autouse=True)
def _wheels():
    wheels = sorted(p.name for p in SCHEMAS.glob("cdktn_provider_*.whl"))
    assert any(w.startswith("cdktn_provider_aws-25.8.1") for w in wheels), (
        f"no pinned provider wheels in {SCHEMAS}: run `make infra-schemas`"
    )


def check(directory):
    return schemacheck.check_directory(directory, SCHEMAS)


@pytest.mark.parametrize("directory", [INFRA, CLOUDRUN], ids=["infra", "cloudrun"])
def test_modules_match_their_provider_schemas(directory):
    findings = check(directory)
    assert findings == [], "\n".join(map(str, findings))


def test_schema_is_the_pinned_provider_and_knows_what_infra_uses():
    # Guards against a checker that passes because its schema is empty or wrong.
    aws = schemacheck.SchemaSet(SCHEMAS).get("hashicorp/aws")
    assert aws is not None and aws.version == "6.69.1"
    assert len(aws.resources) > 1000 and len(aws.data_sources) > 400
    svc = aws.resources["aws_ecs_express_gateway_service"].attrs
    assert svc["execution_role_arn"].required and svc["ingress_paths"].read_only
    assert svc["scaling_target"].is_block and not svc["scaling_target"].real_block
    assert aws.resources["aws_apprunner_service"].attrs["source_configuration"].real_block
    assert "region" in svc and "region" not in aws.resources["aws_iam_role"].attrs
    google = schemacheck.SchemaSet(SCHEMAS).get("hashicorp/google")
    assert google is not None and "google_cloud_run_v2_service" in google.resources


@pytest.mark.parametrize(
    ("fixture", "rules", "needles"),
    [
        ("parse-error", ["parse"], ["does not parse"]),
        ("undefined-var", ["undefined-var"], ["var.missing"]),
        ("undefined-local", ["undefined-local"], ["local.missing"]),
        ("undefined-resource", ["undefined-resource"], ["aws_ecr_repository.other"]),
        ("undefined-data", ["undefined-data"], ["data.aws_caller_identity.nope"]),
        ("undefined-module", ["undefined-module"], ["module.network"]),
        ("schema-unknown-resource-type", ["unknown-resource-type"], ["aws_ecr_repositori"]),
        ("schema-provider-version", ["provider-version"], ['requires version "~> 5.90"']),
        ("schema-unknown-data-type", ["unknown-data-type"], ["aws_caller_identiti"]),
        ("schema-unknown-argument", ["unknown-argument"], ["force_delet"]),
        (
            "schema-unknown-block",
            ["unknown-block"],
            ["source_configuration: no block named image_repositori"],
        ),
        ("schema-read-only", ["read-only"], ["service_url"]),
        ("schema-attribute-as-block", ["attribute-as-block"], ["tags is an argument"]),
        (
            "schema-block-as-attribute",
            ["block-as-attribute"],
            ["image_scanning_configuration is a nested block"],
        ),
        (
            "schema-missing-required",
            ["missing-required", "missing-required"],
            ["argument infrastructure_role_arn", "block source_configuration"],
        ),
        (
            "schema-unknown-attribute",
            ["unknown-attribute"] * 3,
            ["repository_uri", "ingress_paths.endpont", "aws_ecs_express_gateway_service.this.id"],
        ),
        (
            "schema-google-unknown-argument",
            ["unknown-argument", "unknown-block"],
            ["max_instance_request_concurency", "startup_prob"],
        ),
    ],
)
def test_each_rule_fails_on_its_broken_fixture(fixture, rules, needles, broken_fixture):
    directory = broken_fixture(fixture)
    findings = check(directory)
    assert [f.rule for f in findings] == rules, "\n".join(map(str, findings))
    for finding, needle in zip(findings, needles, strict=True):
        assert needle in finding.message, finding
    assert schemacheck.main(["--schemas", str(SCHEMAS), str(directory)]) == 1


def test_the_records_pipeline_is_checked_though_it_is_off_by_default(tmp_path):
    # The check reads every block whatever its count: records_enabled = false by default does
    # not hide the pipeline. One wrong name per records file, deep in nested blocks, is found.
    for p in INFRA.glob("*.tf"):
        (tmp_path / p.name).write_text(p.read_text())
    delivery = tmp_path / "records_delivery.tf"
    delivery.write_text(delivery.read_text().replace("open_x_json_ser_de {}", "open_x_json {}"))
    store = tmp_path / "records.tf"
    store.write_text(store.read_text().replace("bucket_key_enabled", "bucket_keys_enabled"))
    findings = check(tmp_path)
    assert [(f.rule, f.message.split(":")[0]) for f in findings] == [
        (
            "unknown-argument",
            "aws_s3_bucket_server_side_encryption_configuration.records.rule",
        ),
        (
            "unknown-block",
            "aws_kinesis_firehose_delivery_stream.records.extended_s3_configuration"
            ".data_format_conversion_configuration.input_format_configuration.deserializer",
        ),
    ], "\n".join(map(str, findings))


@pytest.mark.parametrize("fixture", ["schema-valid-syntax", "valid-tricky"])
def test_what_terraform_accepts_passes(fixture):
    findings = check(FIXTURES / fixture)
    assert findings == [], "\n".join(map(str, findings))
    assert schemacheck.main(["--schemas", str(SCHEMAS), str(FIXTURES / fixture)]) == 0


def test_missing_wheel_is_a_finding(tmp_path):
    findings = schemacheck.check_directory(FIXTURES / "schema-valid-syntax", tmp_path)
    assert [f.rule for f in findings] == ["no-schema"]
    assert "make infra-schemas" in findings[0].message


def test_bad_directory_is_a_usage_error(tmp_path):
    assert schemacheck.main(["--schemas", str(SCHEMAS), str(tmp_path / "nope")]) == 2


@pytest.mark.parametrize(
    ("version", "constraint", "ok"),
    [
        ("6.69.1", "~> 6.23", True),
        ("6.22.1", "~> 6.23", False),
        ("7.0.0", "~> 6.23", False),
        ("6.69.1", "~> 6.69.0", True),
        ("6.70.0", "~> 6.69.0", False),
        ("8.7.0", "~> 8.0", True),
        ("8.7.0", ">= 7, < 9", True),
        ("8.7.0", ">= 7, < 8", False),
        ("6.69.1", "= 6.69.1", True),
    ],
)
def test_version_constraints(version, constraint, ok):
    assert schemacheck.satisfies(version, constraint) is ok
