"""The AWS stack's properties, on the parsed Terraform: what checkov does not know to check (App
Runner, ECS Express, the OIDC trust, outputs, the staged-apply guard). Each test states a property a
user relies on (a subject outside the repository is refused, the health check is the service's
readiness, nothing is granted on "*"), not the HCL text that implements it, so a rename passes and a
changed behaviour fails. Validation regexes are exercised with Python's re, whose syntax they share
with Terraform's RE2."""

from __future__ import annotations

import json
import re

import pytest

from infra.tests.conftest import INFRA

ROOT = INFRA.parent


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


def allowed_strings(stack, name) -> set[str]:
    """The quoted values a `contains([...], var.x)` validation accepts."""
    return {s for v in validations(stack, name) for s in re.findall(r'"([^"$]+)"', v["condition"])}


def bounds(stack, name) -> dict[str, tuple[float, float]]:
    """Per field, the [low, high] a validation like `c.max_size >= 1 && c.max_size <= 25` allows."""
    conds = " ".join(v["condition"] for v in validations(stack, name))
    found: dict[str, list[float]] = {}
    for field, op, value in re.findall(r"(?:\w+\.)?(\w+) (>=|<=) (\d+)", conds):
        lo, hi = found.setdefault(field, [float("-inf"), float("inf")])
        found[field] = [float(value), hi] if op == ">=" else [lo, float(value)]
    return {k: (v[0], v[1]) for k, v in found.items()}


def service_port() -> int:
    """The port the image listens on (the Dockerfile's EXPOSE), which every platform must use."""
    m = re.search(r"^EXPOSE (\d+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert m, "the Dockerfile exposes no port"
    return int(m.group(1))


def service_routes() -> set[str]:
    """The paths docs/api.md documents (the API's one description)."""
    return set(
        re.findall(r"`(?:GET |POST |HEAD )?(/[a-z]+)`", (ROOT / "docs" / "api.md").read_text())
    )


# 1. layout and versions ---------------------------------------------------------------------


def test_terraform_and_the_provider_are_pinned(stack):
    for f in ("versions.tf", "variables.tf", "outputs.tf", "terraform.tfvars.example", "README.md"):
        assert (INFRA / f).exists(), f
    tf = stack["terraform"][0]
    assert tf["required_version"].startswith(">=")
    # A pessimistic constraint: patch and minor updates, never the next major's breaking changes.
    assert tf["required_providers"][0]["aws"]["version"].startswith("~> ")


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


def test_images_are_scanned_encrypted_and_immutable_but_for_the_listed_tags(stack):
    repo = res(stack, "aws_ecr_repository")
    assert block(repo, "image_scanning_configuration")["scan_on_push"] is True
    assert block(repo, "encryption_configuration")["encryption_type"] == "KMS"
    assert set(re.findall(r'"(\w+)"', repo["image_tag_mutability"])) <= {
        "IMMUTABLE",
        "IMMUTABLE_WITH_EXCLUSION",
    }
    # Only the moving tag may be overwritten; every release tag is immutable.
    assert stack["variable"]["mutable_image_tags"]["default"] == ["latest"]
    assert stack["variable"]["ecr_force_delete"]["default"] is False


def test_the_lifecycle_policy_keeps_the_last_n_images(stack):
    policy = res(stack, "aws_ecr_lifecycle_policy")["policy"]
    assert "imageCountMoreThan" in policy and '"expire"' in policy


# 3. IAM -------------------------------------------------------------------------------------


def test_apprunner_pulls_with_the_ecr_access_policy_only(stack):
    trust = block(stack["data"]["aws_iam_policy_document"]["apprunner_build_trust"], "statement")
    assert block(trust, "principals")["identifiers"] == ["build.apprunner.amazonaws.com"]
    attach = res(stack, "aws_iam_role_policy_attachment", "apprunner_ecr_access")
    assert attach["policy_arn"].endswith(
        "policy/service-role/AWSAppRunnerServicePolicyForECRAccess"
    )
    source = "".join(p.read_text() for p in INFRA.glob("*.tf"))
    assert "FullAccess" not in source


def test_the_oidc_provider_is_github_for_sts_only(stack):
    provider = res(stack, "aws_iam_openid_connect_provider", "github")
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    # An existing provider can be reused: the variable decides whether one is created.
    assert "var.github_oidc_provider_arn" in provider["count"]


def test_ci_role_trusts_only_the_listed_subjects_for_sts(stack):
    st = block(stack["data"]["aws_iam_policy_document"]["ci_trust"], "statement")
    assert st["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    conds = {c["variable"]: c for c in st["condition"]}
    aud = conds["token.actions.githubusercontent.com:aud"]
    sub = conds["token.actions.githubusercontent.com:sub"]
    assert aud["test"] == "StringEquals" and aud["values"] == ["sts.amazonaws.com"]
    # The subjects come from the validated variable, never a literal wildcard.
    assert sub["test"] == "StringLike" and "var.github_subjects" in str(sub["values"])


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


def test_ci_may_push_and_deploy_only_its_own_repository_and_service(stack):
    doc = stack["data"]["aws_iam_policy_document"]["ci"]
    statements = list(doc["statement"]) + [d["statement"]["content"][0] for d in doc["dynamic"]]
    for st in statements:
        # ecr:GetAuthorizationToken has no resource to scope to; nothing else is granted on "*".
        if st["resources"] == ["*"]:
            assert st["actions"] == ["ecr:GetAuthorizationToken"], st
    actions = {a for st in statements for a in st["actions"]}
    assert {"ecr:PutImage", "apprunner:StartDeployment"} <= actions
    assert not any(a.endswith(":*") or a == "*" for a in actions), actions
    assert ':service/${var.name}/*"' in stack["locals"]["apprunner_service_arns"]


def test_legacy_user_is_opt_in_and_its_secret_sensitive(stack):
    assert stack["variable"]["create_legacy_ci_user"]["default"] is False
    for rtype in ("aws_iam_user", "aws_iam_user_policy", "aws_iam_access_key"):
        assert "var.create_legacy_ci_user" in res(stack, rtype, "legacy_ci")["count"]
    assert stack["output"]["legacy_ci_secret_access_key"]["sensitive"] is True


# 4. platforms ---------------------------------------------------------------------------------


def test_the_platform_is_apprunner_or_ecs_express(stack):
    assert allowed_strings(stack, "platform") == {"apprunner", "ecs-express"}
    assert stack["variable"]["platform"]["default"] in {"apprunner", "ecs-express"}


def test_apprunner_autoscaling_defaults_lie_within_app_runners_limits(stack):
    var = stack["variable"]["apprunner_autoscaling_configurations"]
    limits = bounds(stack, "apprunner_autoscaling_configurations")
    # App Runner's own limits: MaxConcurrency 1..200, MaxSize up to 25, MinSize at least 1.
    assert limits["max_concurrency"] == (1, 200)
    assert limits["max_size"][1] == 25 and limits["min_size"][0] == 1
    assert var["default"]["single-instance"]["max_size"] == 1
    assert var["default"]["multi-instance"]["max_size"] > 1
    for name, c in var["default"].items():
        for field, (lo, hi) in limits.items():
            assert lo <= c[field] <= hi, (name, field)
        assert c["min_size"] <= c["max_size"], name
    asc = res(stack, "aws_apprunner_auto_scaling_configuration_version")
    # Replaced, not updated in place: a service may still point at the old version.
    assert asc["lifecycle"][0]["create_before_destroy"] is True


def test_apprunner_runs_the_image_on_its_port_and_checks_readiness(stack):
    svc = res(stack, "aws_apprunner_service")
    image = block(block(svc, "source_configuration"), "image_repository")
    assert image["image_repository_type"] == "ECR"
    assert stack["locals"]["container_port"] == service_port()
    assert "local.container_port" in block(image, "image_configuration")["port"]
    assert "PORT = tostring(local.container_port)" in stack["locals"]["environment"]
    hc = block(svc, "health_check_configuration")
    assert hc["protocol"] == "HTTP" and hc["path"] == "/readyz" in service_routes()
    for field in ("interval", "timeout", "healthy_threshold", "unhealthy_threshold"):
        # App Runner accepts 1..20 for each; the variables refuse anything else before AWS does.
        name = f"apprunner_health_check_{field}"
        assert bounds(stack, name)[name] == (1, 20)


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


def test_instance_sizes_are_app_runners_valid_pairs(stack):
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


def test_ecs_express_runs_the_image_on_its_port_and_checks_readiness(stack):
    for role, policy in (
        ("ecs_execution", "AmazonECSTaskExecutionRolePolicy"),
        ("ecs_infrastructure", "AmazonECSInfrastructureRoleforExpressGatewayServices"),
    ):
        assert res(stack, "aws_iam_role_policy_attachment", role)["policy_arn"].endswith(policy)
    svc = res(stack, "aws_ecs_express_gateway_service")
    assert svc["health_check_path"] == "/readyz" in service_routes()
    assert "local.container_port" in block(svc, "primary_container")["container_port"]
    assert any(
        "var.ecs_min_tasks <= var.ecs_max_tasks" in p["condition"]
        for p in svc["lifecycle"][0]["precondition"]
    )
    assert allowed_strings(stack, "ecs_scaling_metric") == {
        "AVERAGE_CPU",
        "AVERAGE_MEMORY",
        "REQUEST_COUNT_PER_TARGET",
    }
    assert stack["variable"]["ecs_scaling_metric"]["default"] in allowed_strings(
        stack, "ecs_scaling_metric"
    )


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


# 6. outputs -----------------------------------------------------------------------------------


def test_outputs_are_described_and_the_urls_are_https(stack):
    outputs = stack["output"]
    for name in (
        "service_url",
        "service_urls",
        "repository_url",
        "ci_role_arn",
        "dashboard_url",
        "platform",
        "aws_region",
    ):
        assert outputs[name]["description"], name
    urls = stack["locals"]["service_urls"]
    # Both platforms' URLs are published as https (App Runner's bare host gets the scheme).
    assert "https://" in urls and "http://" not in urls
    assert outputs["dashboard_url"]["value"].count("https://") == 1


# 7. no apply against an empty repository ------------------------------------------------------


def test_no_service_is_created_before_its_image_exists(stack):
    guard = stack["data"]["aws_ecr_image"]["service"]
    assert "var.image_tag" in guard["image_tag"]
    for rtype in ("aws_apprunner_service", "aws_ecs_express_gateway_service"):
        pre = res(stack, rtype)["lifecycle"][0]["precondition"]
        assert any("data.aws_ecr_image.service" in p["condition"] for p in pre), rtype


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
