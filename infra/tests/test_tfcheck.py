"""The convention checker: infra/ is clean, and each rule fires on a fixture that breaks it.
(References and parsing are schemacheck's; see test_schemacheck.py.)"""

from __future__ import annotations

import pytest

from infra.tests.conftest import CLOUDRUN, FIXTURES, INFRA
from infra.tfcheck import conventions, hcl_module


def test_every_infra_file_parses():
    files = sorted(INFRA.glob("*.tf"))
    assert {f.name for f in files} >= {"versions.tf", "variables.tf", "outputs.tf"}
    module = hcl_module.Module(INFRA)
    assert [f for f in module.findings if f.rule == "parse"] == []
    assert len(module.variables) > 20 and len(module.resources) > 15


@pytest.mark.parametrize("directory", [INFRA, CLOUDRUN], ids=["infra", "cloudrun"])
def test_variables_are_typed_described_used(directory):
    findings = conventions.check_directory(directory)
    assert findings == [], "\n".join(map(str, findings))


def test_checker_sees_the_references_it_vouches_for():
    # Guards against a checker that passes because it finds nothing.
    refs = hcl_module.Module(INFRA).references()
    kinds = {r.kind for r in refs}
    assert kinds >= {"var", "local", "resource", "data"}
    assert ("resource", ("aws_ecr_repository", "this")) in {(r.kind, r.key) for r in refs}
    assert ("data", ("aws_iam_policy_document", "ci_trust")) in {(r.kind, r.key) for r in refs}


@pytest.mark.parametrize(
    ("fixture", "rule", "needle"),
    [
        ("unused-variable", "unused-variable", '"orphan"'),
        ("unused-local", "unused-local", '"orphan"'),
        ("untyped-variable", "variable-type", '"size"'),
        ("undescribed-variable", "variable-description", '"size"'),
    ],
)
def test_each_rule_fails_on_its_broken_fixture(fixture, rule, needle):
    findings = conventions.check_directory(FIXTURES / fixture)
    assert [f.rule for f in findings] == [rule], "\n".join(map(str, findings))
    assert needle in findings[0].message
    assert conventions.main(["conventions", str(FIXTURES / fixture)]) == 1


def test_lookalikes_are_not_references():
    findings = conventions.check_directory(FIXTURES / "valid-tricky")
    assert findings == [], "\n".join(map(str, findings))
    assert conventions.main(["conventions", str(FIXTURES / "valid-tricky")]) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain literal var.x", set()),
        ("${var.x}", {("var", ("x",), ())}),
        ('pre-${jsonencode({A = "aws_x.y"})}-${local.z}', {("local", ("z",), ())}),
        ('${"inner-${var.deep}"}', {("var", ("deep",), ())}),
        ("$${var.escaped}", set()),
        ("${[for s in var.list : s.name]}", {("var", ("list",), ())}),
        ("${aws_iam_role.ci[*].arn}", {("resource", ("aws_iam_role", "ci"), (None, "arn"))}),
        (
            "${data.aws_ecr_image.service[0].image_digest}",
            {("data", ("aws_ecr_image", "service"), (None, "image_digest"))},
        ),
        ('${aws_x.y["k"].z[0].w}', {("resource", ("aws_x", "y"), (None, "z", None, "w"))}),
    ],
)
def test_references_skip_literals_escapes_and_bound_names(text, expected):
    found = {
        ref
        for segment in hcl_module.expression_segments(text)
        for ref in hcl_module.traversals_in(segment, ("aws_",), set())
    }
    assert found == expected
