"""Issue #4, point by point, on the parsed Terraform: what checkov does not know to check
(App Runner, ECS Express, OIDC trust shape, outputs, the staged-apply guard) is asserted here.
Validation regexes are exercised with Python's re, whose syntax they share with Terraform's RE2."""

from __future__ import annotations

import json
import re

import pytest

from infra.tests.conftest import INFRA


def res(stack, rtype, name="this"):
    return stack["resource"][rtype][name]


def block(body, key):
    value = body[key]
    return value[0] if isinstance(value, list) else value


def validations(stack, name):
    return stack["variable"][name].get("validation", [])


def regex_of(stack, name):
    for v in validations(stack, name):
        m = re.search(r'regex\("(.+?)", (?:var\.\w+|[sfk])\)', v["condition"])
        if m:
            return m.group(1).replace("\\\\", "\\")
    raise AssertionError(f"no regex validation on {name}")


# 1. layout and versions ---------------------------------------------------------------------


def test_layout_and_versions(stack):
    for f in ("versions.tf", "variables.tf", "outputs.tf", "terraform.tfvars.example", "README.md"):
        assert (INFRA / f).exists(), f
    tf = stack["terraform"][0]
    assert tf["required_version"] == ">= 1.6"
    assert tf["required_providers"][0]["aws"]["version"] == "~> 6.23"


def test_tfvars_example_sets_only_declared_variables(stack):
    import hcl2

    from infra.tfcheck.hcl_module import OPTIONS

    example = hcl2.loads(
        (INFRA / "terraform.tfvars.example").read_text(), serialization_options=OPTIONS
    )
    keys = {k for k in example if not k.startswith("__")}
    assert keys and keys <= set(stack["variable"]), keys - set(stack["variable"])
    assert "github_subjects" in keys and "platform" in keys


# 2. ECR ---------------------------------------------------------------------------------------


def test_ecr_repository(stack):
    repo = res(stack, "aws_ecr_repository")
    assert block(repo, "image_scanning_configuration")["scan_on_push"] is True
    assert block(repo, "encryption_configuration")["encryption_type"] == "KMS"
    assert repo["force_delete"] == "${var.ecr_force_delete}"
    mutability = repo["image_tag_mutability"]
    assert set(re.findall(r'"(\w+)"', mutability)) == {"IMMUTABLE", "IMMUTABLE_WITH_EXCLUSION"}
    dyn = repo["dynamic"][0]["image_tag_mutability_exclusion_filter"]
    assert dyn["for_each"] == "${var.mutable_image_tags}"
    assert stack["variable"]["mutable_image_tags"]["default"] == ["latest"]


def test_ecr_lifecycle_keeps_last_n(stack):
    policy = res(stack, "aws_ecr_lifecycle_policy")["policy"]
    assert (
        "imageCountMoreThan" in policy and "var.ecr_keep_images" in policy and '"expire"' in policy
    )


# 3. IAM -------------------------------------------------------------------------------------


def test_apprunner_access_role_uses_the_ecr_access_policy_only(stack):
    trust = block(stack["data"]["aws_iam_policy_document"]["apprunner_build_trust"], "statement")
    assert block(trust, "principals")["identifiers"] == ["build.apprunner.amazonaws.com"]
    attach = res(stack, "aws_iam_role_policy_attachment", "apprunner_ecr_access")
    assert attach["policy_arn"].endswith(
        "policy/service-role/AWSAppRunnerServicePolicyForECRAccess"
    )
    source = "".join(p.read_text() for p in INFRA.glob("*.tf"))
    assert "FullAccess" not in source


def test_oidc_provider_created_or_reused(stack):
    provider = res(stack, "aws_iam_openid_connect_provider", "github")
    assert provider["count"] == "${var.github_oidc_provider_arn == null ? 1 : 0}"
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    assert "var.github_oidc_provider_arn" in stack["locals"]["github_oidc_provider_arn"]


def test_ci_role_trusts_only_the_listed_subjects(stack):
    st = block(stack["data"]["aws_iam_policy_document"]["ci_trust"], "statement")
    assert st["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    conds = {c["variable"]: c for c in st["condition"]}
    aud = conds["token.actions.githubusercontent.com:aud"]
    sub = conds["token.actions.githubusercontent.com:sub"]
    assert aud["test"] == "StringEquals" and aud["values"] == ["sts.amazonaws.com"]
    assert sub["test"] == "StringLike" and sub["values"] == "${var.github_subjects}"
    assert (
        res(stack, "aws_iam_role", "ci")["assume_role_policy"]
        == "${data.aws_iam_policy_document.ci_trust.json}"
    )


@pytest.mark.parametrize(
    ("subject", "ok"),
    [
        ("repo:octo-org/delay-echo:ref:refs/heads/main", True),
        ("repo:octo-org@123456/delay-echo@987654:ref:refs/heads/main", True),
        ("repo:octo-org/delay-echo:environment:prod", True),
        ("repo:octo-org/delay-echo:ref:refs/tags/v*", True),
        ("repo:octo-org/*:ref:refs/heads/main", False),
        ("repo:*", False),
        ("repo:octo-org/delay-echo:*", False),
        ("octo-org/delay-echo", False),
    ],
)
def test_github_subject_validation(stack, subject, ok):
    assert bool(re.fullmatch(regex_of(stack, "github_subjects"), subject)) is ok


def test_ci_policy_is_scoped_to_this_repository_and_service(stack):
    doc = stack["data"]["aws_iam_policy_document"]["ci"]
    statements = {s["sid"]: s for s in doc["statement"]}
    assert statements["EcrLogin"]["resources"] == ["*"]
    assert statements["EcrLogin"]["actions"] == ["ecr:GetAuthorizationToken"]
    push = statements["PushToThisRepository"]
    assert (
        push["resources"] == ["${aws_ecr_repository.this.arn}"]
        and "ecr:PutImage" in push["actions"]
    )
    deploys = [d["statement"]["content"][0] for d in doc["dynamic"]]
    by_sid = {d["sid"]: d for d in deploys}
    assert "apprunner:StartDeployment" in by_sid["DeployThisAppRunnerService"]["actions"]
    assert by_sid["DeployThisAppRunnerService"]["resources"] == "${local.apprunner_service_arns}"
    assert by_sid["DeployThisEcsService"]["resources"] == "${local.ecs_service_arns}"
    assert ":apprunner:${r}:" in stack["locals"]["apprunner_service_arns"]
    assert ':service/${var.name}/*"' in stack["locals"]["apprunner_service_arns"]
    assert "for r in local.service_regions" in stack["locals"]["ecs_service_arns"]


def test_legacy_user_is_opt_in_and_its_secret_sensitive(stack):
    assert stack["variable"]["create_legacy_ci_user"]["default"] is False
    for rtype in ("aws_iam_user", "aws_iam_user_policy", "aws_iam_access_key"):
        assert res(stack, rtype, "legacy_ci")["count"] == "${var.create_legacy_ci_user ? 1 : 0}"
    assert stack["output"]["legacy_ci_secret_access_key"]["sensitive"] is True


# 4. platforms ---------------------------------------------------------------------------------


def test_platform_switch(stack):
    cond = validations(stack, "platform")[0]["condition"]
    assert '"apprunner"' in cond and '"ecs-express"' in cond
    # One service per region of the chosen platform (test_mesh.py checks the region structure).
    per_region = "? toset(local.service_regions) : toset([])}"
    assert (
        res(stack, "aws_apprunner_service")["for_each"] == "${local.deploy_apprunner " + per_region
    )
    assert (
        res(stack, "aws_ecs_express_gateway_service")["for_each"]
        == "${local.deploy_ecs " + per_region
    )


def test_apprunner_autoscaling_configurations(stack):
    var = stack["variable"]["apprunner_autoscaling_configurations"]
    assert var["default"] == {
        "single-instance": {"max_concurrency": 10, "min_size": 1, "max_size": 1},
        "multi-instance": {"max_concurrency": 10, "min_size": 1, "max_size": 5},
    }
    conds = " ".join(v["condition"] for v in var["validation"])
    for bound in (
        "c.max_concurrency >= 1",
        "c.max_concurrency <= 200",
        "c.min_size >= 1",
        "c.max_size <= 25",
        "c.min_size <= c.max_size",
    ):
        assert bound in conds
    asc = res(stack, "aws_apprunner_auto_scaling_configuration_version")
    assert asc["lifecycle"][0]["create_before_destroy"] is True
    svc = res(stack, "aws_apprunner_service")
    assert "var.apprunner_autoscaling_configuration" in svc["auto_scaling_configuration_arn"]


def test_apprunner_service(stack):
    svc = res(stack, "aws_apprunner_service")
    src = block(svc, "source_configuration")
    assert src["auto_deployments_enabled"] == "${var.apprunner_auto_deployments}"
    image = block(src, "image_repository")
    assert (
        image["image_identifier"] == "${local.image_uris[each.key]}"
        and image["image_repository_type"] == "ECR"
    )
    cfg = block(image, "image_configuration")
    assert (
        cfg["port"] == "${tostring(local.container_port)}"
        and stack["locals"]["container_port"] == 8080
    )
    region_env = "${merge(local.environment, local.region_environment[each.key])}"
    assert cfg["runtime_environment_variables"] == region_env
    assert "PORT = tostring(local.container_port)" in stack["locals"]["environment"]
    hc = block(svc, "health_check_configuration")
    assert hc["protocol"] == "HTTP" and hc["path"] == "/readyz"
    for field in ("interval", "timeout", "healthy_threshold", "unhealthy_threshold"):
        assert hc[field] == f"${{var.apprunner_health_check_{field}}}"
        conds = validations(stack, f"apprunner_health_check_{field}")[0]["condition"]
        assert ">= 1" in conds and "<= 20" in conds
    assert "observability_configuration" in svc["dynamic"][0]
    assert (
        res(stack, "aws_apprunner_observability_configuration")["for_each"]
        == "${local.is_apprunner && var.apprunner_xray ? toset(local.service_regions) : toset([])}"
    )


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("DELAY_ECHO_DELAY", True),
        ("RUST_LOG", True),
        ("AWSAPPRUNNER_X", False),
        ("DELAY_ECHO_LISTEN", False),
        ("PATH", False),
    ],
)
def test_environment_keys(stack, key, ok):
    rules = validations(stack, "service_environment")
    allowed = (
        re.fullmatch(regex_of(stack, "service_environment"), key) and key != "DELAY_ECHO_LISTEN"
    )
    assert not key.startswith("AWSAPPRUNNER") or "AWSAPPRUNNER" in rules[0]["condition"]
    assert bool(allowed) is ok


def test_instance_sizes_are_validated_pairs(stack):
    cond = validations(stack, "apprunner_instance")[0]["condition"]
    pairs = set(re.findall(r'"([\d.]+/[\d.]+)"', cond))
    assert pairs == {
        "0.25/0.5",
        "0.25/1",
        "0.5/1",
        "1/2",
        "1/3",
        "1/4",
        "2/4",
        "2/6",
        "4/8",
        "4/10",
        "4/12",
    }


def test_ecs_express_service(stack):
    for role, policy in (
        ("ecs_execution", "AmazonECSTaskExecutionRolePolicy"),
        ("ecs_infrastructure", "AmazonECSInfrastructureRoleforExpressGatewayServices"),
    ):
        assert res(stack, "aws_iam_role_policy_attachment", role)["policy_arn"].endswith(policy)
    assert (
        res(stack, "aws_cloudwatch_log_group", "ecs")["retention_in_days"]
        == "${var.ecs_log_retention_days}"
    )
    svc = res(stack, "aws_ecs_express_gateway_service")
    assert svc["health_check_path"] == "/readyz"
    assert svc["cluster"] == "${aws_ecs_cluster.this[each.key].name}"
    pc = block(svc, "primary_container")
    assert pc["image"] == "${local.image_uris[each.key]}"
    assert pc["container_port"] == "${local.container_port}"
    region_env = "${merge(local.environment, local.region_environment[each.key])}"
    assert pc["dynamic"][0]["environment"]["for_each"] == region_env
    st = block(svc, "scaling_target")
    assert st == {
        "auto_scaling_metric": "${var.ecs_scaling_metric}",
        "auto_scaling_target_value": "${var.ecs_scaling_target_value}",
        "min_task_count": "${var.ecs_min_tasks}",
        "max_task_count": "${var.ecs_max_tasks}",
    }
    assert svc["cpu"] == "${tostring(var.ecs_task_size.cpu)}"
    assert any(
        "var.ecs_min_tasks <= var.ecs_max_tasks" in p["condition"]
        for p in svc["lifecycle"][0]["precondition"]
    )
    metric = validations(stack, "ecs_scaling_metric")[0]["condition"]
    assert all(m in metric for m in ("AVERAGE_CPU", "AVERAGE_MEMORY", "REQUEST_COUNT_PER_TARGET"))
    assert stack["variable"]["ecs_scaling_metric"]["default"] == "AVERAGE_CPU"


# 5. dashboard ---------------------------------------------------------------------------------


def test_dashboard_covers_both_platforms(stack):
    locals_ = json.dumps(stack["locals"])
    for metric in (
        "Requests",
        "2xxStatusResponses",
        "4xxStatusResponses",
        "5xxStatusResponses",
        "RequestLatency",
        "ActiveInstances",
        "Concurrency",
        "CPUUtilization",
        "MemoryUtilization",
    ):
        assert f'\\"AWS/AppRunner\\", \\"{metric}\\"' in locals_, metric
    for metric in (
        "RequestCount",
        "HTTPCode_Target_2XX_Count",
        "HTTPCode_Target_4XX_Count",
        "HTTPCode_Target_5XX_Count",
        "TargetResponseTime",
        "RunningTaskCount",
    ):
        assert metric in locals_, metric
    for p in ("p50", "p95", "p99"):
        assert p in locals_
    dash = res(stack, "aws_cloudwatch_dashboard")
    assert dash["count"] == "${var.create_service ? 1 : 0}"


# 6. outputs -----------------------------------------------------------------------------------


def test_outputs(stack):
    outputs = stack["output"]
    for name in (
        "service_url",
        "repository_url",
        "ci_role_arn",
        "dashboard_url",
        "platform",
        "aws_region",
    ):
        assert outputs[name]["description"], name
    assert outputs["service_url"]["value"] == "${lookup(local.service_urls, var.aws_region, null)}"
    assert outputs["service_urls"]["value"] == "${local.service_urls}"
    urls = stack["locals"]["service_urls"]
    assert "https://${s.service_url}" in urls and "ingress_paths[0].endpoint" in urls
    assert outputs["dashboard_url"]["value"].count("https://") == 1


# 7. no apply against an empty repository ------------------------------------------------------


def test_service_waits_for_the_image(stack):
    guard = stack["data"]["aws_ecr_image"]["service"]
    assert guard["for_each"] == "${var.create_service ? toset(local.service_regions) : toset([])}"
    assert guard["region"] == "${each.key}"
    assert guard["image_tag"] == "${var.image_tag}"
    for rtype in ("aws_apprunner_service", "aws_ecs_express_gateway_service"):
        pre = res(stack, rtype)["lifecycle"][0]["precondition"]
        guard_ref = "data.aws_ecr_image.service[each.key].image_digest"
        assert any(guard_ref in p["condition"] for p in pre), rtype


# README ---------------------------------------------------------------------------------------


def test_readme_documents_every_input_and_output(stack):
    readme = (INFRA / "README.md").read_text()
    missing = [f"variable {v}" for v in stack["variable"] if f"`{v}`" not in readme]
    missing += [f"output {o}" for o in stack["output"] if f"`{o}`" not in readme]
    assert missing == []
    for step in (
        "make infra",
        "make infra-destroy",
        "create_service=false",
        "make buildc push",
        "gh variable set",
    ):
        assert step in readme, step
