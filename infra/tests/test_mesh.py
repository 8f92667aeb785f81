"""Issue 11 points 5 and 9: `regions` gives one service per region, ECR replication to every
region but the home one, and every service the others as peers.

The region structure lives in mesh.tf as locals over variables only. Terraform itself evaluates
them (`terraform console` on mesh.tf and variables.tf copied alone, which needs no provider), and
the parsed resources are checked to take their for_each, region, image and environment from
those locals, so N regions give N services, N-1 replication destinations and N(N-1) peers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from infra.tests.conftest import INFRA

TERRAFORM = shutil.which("terraform")
REGIONS = ["eu-west-1", "us-east-1", "ap-southeast-2", "sa-east-1"]
SUBJECTS = '["repo:org/repo:ref:refs/heads/main"]'
PER_REGION = "toset(local.service_regions) : toset([])}"


def res(stack, rtype, name="this"):
    return stack["resource"][rtype][name]


def test_every_regional_resource_is_one_per_region_in_its_own_region(stack):
    for rtype in (
        "aws_apprunner_service",
        "aws_ecs_express_gateway_service",
        "aws_ecs_cluster",
        "aws_cloudwatch_log_group",
        "aws_apprunner_observability_configuration",
    ):
        body = res(stack, rtype, "ecs" if rtype == "aws_cloudwatch_log_group" else "this")
        assert body["for_each"].endswith(PER_REGION), rtype
        assert body["region"] == "${each.key}", rtype
    guard = stack["data"]["aws_ecr_image"]["service"]
    assert guard["for_each"].endswith(PER_REGION) and guard["region"] == "${each.key}"
    scaling = res(stack, "aws_apprunner_auto_scaling_configuration_version")
    assert "setproduct(local.service_regions" in scaling["for_each"]
    assert scaling["region"] == "${each.value.region}"


def test_services_pull_from_their_own_region_and_get_region_and_peers(stack):
    uris = stack["locals"]["image_uris"]
    assert "for r in local.service_regions" in uris and ".dkr.ecr.${r}." in uris
    env = "${merge(local.environment, local.region_environment[each.key])}"
    ecs = res(stack, "aws_ecs_express_gateway_service")["primary_container"][0]
    assert ecs["image"] == "${local.image_uris[each.key]}"
    assert ecs["dynamic"][0]["environment"]["for_each"] == env
    image = res(stack, "aws_apprunner_service")["source_configuration"][0]["image_repository"][0]
    assert image["image_identifier"] == "${local.image_uris[each.key]}"
    assert image["image_configuration"][0]["runtime_environment_variables"] == env


def test_replication_goes_from_the_home_repository_to_the_other_regions(stack):
    repl = res(stack, "aws_ecr_replication_configuration")
    assert repl["count"] == "${length(local.replica_regions) > 0 ? 1 : 0}"
    rule = repl["replication_configuration"][0]["rule"][0]
    destination = rule["dynamic"][0]["destination"]
    assert destination["for_each"] == "${local.replica_regions}"
    assert destination["content"][0]["region"] == "${destination.value}"
    assert rule["repository_filter"][0]["filter"] == "${aws_ecr_repository.this.name}"
    assert "region" not in repl  # the home region: the provider's


def test_outputs_for_make_mesh(stack):
    assert stack["output"]["service_urls"]["value"] == "${local.service_urls}"
    assert stack["output"]["service_regions"]["value"] == "${local.service_regions}"


def console(tmp_path, expressions: list[str], regions: list[str], peer_urls: dict[str, str]):
    """Evaluate expressions with Terraform on mesh.tf and variables.tf alone (no providers)."""
    for name in ("mesh.tf", "variables.tf"):
        shutil.copy(INFRA / name, tmp_path / name)
    assert TERRAFORM is not None
    args = [
        TERRAFORM,
        f"-chdir={tmp_path}",
        "console",
        f"-var=github_subjects={SUBJECTS}",
        f"-var=regions={json.dumps(regions)}",
        f"-var=peer_urls={json.dumps(peer_urls)}",
    ]
    # One expression: terraform console answers a piped script with the last result only.
    stdin = "jsonencode([" + ", ".join(expressions) + "])\n"
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_IN_AUTOMATION": "1"}
    proc = subprocess.run(
        args, input=stdin, capture_output=True, text=True, timeout=120, check=False, env=env
    )
    assert proc.returncode == 0, proc.stderr
    answer = proc.stdout.strip().splitlines()[-1]  # an HCL string holding the JSON
    return json.loads(json.loads(answer))


@pytest.mark.skipif(
    TERRAFORM is None, reason="terraform is not on PATH (the structure tests above still run)"
)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_n_regions_give_n_services_n_minus_1_replicas_n_n_minus_1_peers(tmp_path, n):
    regions = REGIONS[:n]
    urls = {r: f"https://svc-{r}.example" for r in regions}
    services, replicas, peers, env = console(
        tmp_path,
        [
            "local.service_regions",
            "local.replica_regions",
            "local.mesh_peers",
            "local.region_environment",
        ],
        regions,
        urls,
    )
    assert services == regions
    assert replicas == regions[1:]  # aws_region (eu-west-1, the default) is the home region
    assert sum(len(p) for p in peers.values()) == n * (n - 1)
    for r in regions:
        assert sorted(peers[r]) == sorted(f"{p}=https://svc-{p}.example" for p in regions if p != r)
        assert env[r]["DELAY_ECHO_REGION"] == r
        assert ("DELAY_ECHO_PEERS" in env[r]) is (n > 1)


@pytest.mark.skipif(
    TERRAFORM is None, reason="terraform is not on PATH (the structure tests above still run)"
)
def test_before_the_peer_stage_services_run_without_peers(tmp_path):
    (peers, env, _services) = console(
        tmp_path,
        ["local.mesh_peers", "local.region_environment", "local.service_regions"],
        REGIONS[:3],
        {},
    )
    assert all(p == [] for p in peers.values())
    assert all(set(e) == {"DELAY_ECHO_REGION"} for e in env.values())
    # No regions at all: one service in aws_region, as before the mesh existed.
    assert console(tmp_path, ["local.service_regions"], [], {}) == [["eu-west-1"]]
