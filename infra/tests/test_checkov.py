"""checkov on infra/: zero failed checks, zero parsing errors, every skip inline with a reason.
Each rule of the gate is shown to fail on a fixture that breaks it."""

from __future__ import annotations

import pytest

from infra.tests.conftest import CLOUDRUN, FIXTURES, INFRA
from infra.tfcheck import checkov_gate

# checkov leaves out what `count` turns off by default; these values turn the opt-in records
# pipeline on (with regions, so per-region resources are expanded) and keep everything else.
RECORDS_ON = FIXTURES / "records-on-regions.tfvars"


@pytest.fixture(scope="module")
def infra_report() -> dict:
    # tests/ holds the broken fixtures; terraform never loads sub-directories, checkov would.
    # cloudrun/ is a root module of its own, scanned on its own below.
    return checkov_gate.run_checkov(
        INFRA, skip_paths=("tests/", "cloudrun/"), var_files=(RECORDS_ON,)
    )


def test_infra_passes_the_gate(infra_report):
    problems = checkov_gate.evaluate(infra_report, INFRA)
    assert problems == [], "\n".join(problems)


def test_infra_report_is_a_real_scan(infra_report):
    s = infra_report["summary"]
    assert s["parsing_errors"] == 0
    assert s["failed"] == 0
    assert s["resource_count"] >= 20 and s["passed"] >= 50
    scanned = {c["file_path"].lstrip("/") for c in infra_report["results"]["passed_checks"]}
    assert {"ecr.tf", "iam.tf", "ecs.tf"} <= scanned
    assert not any(p.startswith("tests/") for p in scanned)


def test_every_skip_is_inline_with_a_reason(infra_report):
    skipped = infra_report["results"]["skipped_checks"]
    source = "".join(p.read_text() for p in INFRA.glob("*.tf"))
    for c in skipped:
        reason = c["check_result"]["suppress_comment"]
        assert len(reason.split()) >= 3, c["check_id"]
        assert f"#checkov:skip={c['check_id']}:{reason}" in source
    # and no skip comment in the source went unused by checkov (a resource expanded per region
    # reports its skip once per instance: count each resource once)
    used = {(c["resource"].split("[")[0], c["check_id"]) for c in skipped}
    assert source.count("#checkov:skip=") == len(used)


def test_the_records_pipeline_is_scanned_and_passes(infra_report):
    passed = {
        (c["resource"].split("[")[0], c["check_id"])
        for c in infra_report["results"]["passed_checks"]
    }
    for resource, check in [
        ("aws_s3_bucket.records", "CKV2_AWS_6"),  # public access blocked
        ("aws_s3_bucket.records", "CKV_AWS_145"),  # KMS encryption
        ("aws_s3_bucket.records", "CKV_AWS_21"),  # versioning
        ("aws_s3_bucket.records", "CKV2_AWS_61"),  # lifecycle
        ("aws_s3_bucket_lifecycle_configuration.records", "CKV_AWS_300"),
        ("aws_kinesis_firehose_delivery_stream.records", "CKV_AWS_240"),  # encrypted
        ("aws_athena_workgroup.records", "CKV_AWS_82"),  # enforced configuration
        ("aws_athena_workgroup.records", "CKV_AWS_159"),  # encrypted results
        ("aws_iam_role.records_logs", "CKV2_AWS_56"),
        ("aws_iam_role.records_firehose", "CKV2_AWS_56"),
        ("aws_iam_role_policy.records_firehose", "CKV_AWS_62"),
    ]:
        assert (resource, check) in passed, (resource, check)


def test_failed_checks_fail_the_gate():
    report = checkov_gate.run_checkov(FIXTURES / "checkov-failed")
    problems = checkov_gate.evaluate(report, FIXTURES / "checkov-failed")
    failed = {p.split()[0] for p in problems}
    assert {"CKV_AWS_51", "CKV_AWS_163", "CKV_AWS_136"} <= failed
    assert (
        checkov_gate.main(
            ["--checkov", checkov_gate.find_checkov(), str(FIXTURES / "checkov-failed")]
        )
        == 1
    )


def test_parsing_errors_fail_the_gate(broken_fixture):
    directory = broken_fixture("parse-error")
    report = checkov_gate.run_checkov(directory)
    assert report["summary"]["parsing_errors"] == 1
    problems = checkov_gate.evaluate(report, directory)
    assert any("parsing_errors must be 0" in p for p in problems)


def test_skips_without_reason_fail_the_gate():
    report = checkov_gate.run_checkov(FIXTURES / "checkov-skip-without-reason")
    # checkov itself is satisfied: the checks count as skipped, none failed.
    assert report["summary"]["failed"] == 0 and report["summary"]["skipped"] == 2
    problems = checkov_gate.evaluate(report, FIXTURES / "checkov-skip-without-reason")
    assert any("skip of CKV_AWS_51 needs a reason" in p for p in problems)
    assert any("skip of CKV_AWS_136 needs a reason" in p for p in problems)


def test_config_file_skips_fail_the_gate(tmp_path):
    (tmp_path / "main.tf").write_text('variable "x" {\n  type = string\n}\n')
    (tmp_path / ".checkov.yaml").write_text("skip-check:\n  - CKV_AWS_51\n")
    clean = {
        "summary": {"parsing_errors": 0},
        "results": {"failed_checks": [], "skipped_checks": []},
    }
    problems = checkov_gate.evaluate(clean, tmp_path)
    assert problems == [
        f".checkov.yaml in {tmp_path}: skips must be inline #checkov:skip comments with a reason"
    ]


def test_cloudrun_passes_the_gate_with_reasoned_skips():
    report = checkov_gate.run_checkov(CLOUDRUN)
    assert checkov_gate.evaluate(report, CLOUDRUN) == []
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["resource_count"] >= 4
    source = "".join(p.read_text() for p in CLOUDRUN.glob("*.tf"))
    skipped = report["results"]["skipped_checks"]
    assert source.count("#checkov:skip=") == len(skipped)
    for c in skipped:
        assert f"#checkov:skip={c['check_id']}:{c['check_result']['suppress_comment']}" in source
