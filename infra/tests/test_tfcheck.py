"""The reference checker: infra/ is clean, and each rule fires on a fixture that breaks it."""

from __future__ import annotations

import pytest

import tfcheck
from conftest import FIXTURES, INFRA


def test_every_infra_file_parses():
    files = sorted(INFRA.glob("*.tf"))
    assert {f.name for f in files} >= {"versions.tf", "variables.tf", "outputs.tf"}
    module = tfcheck.Module(INFRA)
    assert [f for f in module.findings if f.rule == "parse"] == []
    assert len(module.variables) > 20 and len(module.resources) > 15


def test_infra_references_resolve_and_variables_are_typed_described_used():
    findings = tfcheck.check_directory(INFRA)
    assert findings == [], "\n".join(map(str, findings))


def test_checker_sees_the_references_it_vouches_for():
    # Guards against a checker that passes because it finds nothing.
    refs = tfcheck.Module(INFRA).references()
    kinds = {r.kind for r in refs}
    assert kinds >= {"var", "local", "resource", "data"}
    assert ("resource", ("aws_ecr_repository", "this")) in {(r.kind, r.key) for r in refs}
    assert ("data", ("aws_iam_policy_document", "ci_trust")) in {(r.kind, r.key) for r in refs}


@pytest.mark.parametrize(
    ("fixture", "rule", "needle"),
    [
        ("parse-error", "parse", "does not parse"),
        ("undefined-var", "undefined-var", "var.missing"),
        ("undefined-local", "undefined-local", "local.missing"),
        ("undefined-resource", "undefined-resource", "aws_ecr_repository.other"),
        ("undefined-data", "undefined-data", "data.aws_caller_identity.nope"),
        ("undefined-module", "undefined-module", "module.network"),
        ("unused-variable", "unused-variable", '"orphan"'),
        ("unused-local", "unused-local", '"orphan"'),
        ("untyped-variable", "variable-type", '"size"'),
        ("undescribed-variable", "variable-description", '"size"'),
    ],
)
def test_each_rule_fails_on_its_broken_fixture(fixture, rule, needle):
    findings = tfcheck.check_directory(FIXTURES / fixture)
    assert [f.rule for f in findings] == [rule], "\n".join(map(str, findings))
    assert needle in findings[0].message
    assert tfcheck.main(["tfcheck.py", str(FIXTURES / fixture)]) == 1


def test_lookalikes_are_not_references():
    findings = tfcheck.check_directory(FIXTURES / "valid-tricky")
    assert findings == [], "\n".join(map(str, findings))
    assert tfcheck.main(["tfcheck.py", str(FIXTURES / "valid-tricky")]) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain literal var.x", set()),
        ("${var.x}", {("var", ("x",))}),
        ('pre-${jsonencode({A = "aws_x.y"})}-${local.z}', {("local", ("z",))}),
        ('${"inner-${var.deep}"}', {("var", ("deep",))}),
        ("$${var.escaped}", set()),
        ("${[for s in var.list : s.name]}", {("var", ("list",))}),
        ("${aws_iam_role.ci[*].arn}", {("resource", ("aws_iam_role", "ci"))}),
        ("${data.aws_ecr_image.service[0].image_digest}", {("data", ("aws_ecr_image", "service"))}),
    ],
)
def test_references_skip_literals_escapes_and_bound_names(text, expected):
    found = {
        ref
        for segment in tfcheck.expression_segments(text)
        for ref in tfcheck.references_in(segment, ("aws_",), set())
    }
    assert found == expected
