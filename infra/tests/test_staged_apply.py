"""`make infra` and `make infra-destroy` run their stages in the order that keeps every apply from
failing. terraform, aws and make are replaced by recording fakes, so no cloud is touched."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from infra.tests.conftest import INFRA

FAKE = r"""#!/usr/bin/env bash
# Records its arguments; answers `terraform output -raw NAME` and `aws ecr ...` from env.
echo "$(basename "$0") $*" >> "$FAKE_LOG"
case "$(basename "$0") $*" in
  *" output -raw repository_url") echo "123456789012.dkr.ecr.eu-west-1.amazonaws.com/delay-echo" ;;
  *" output -raw repository_name") echo "delay-echo" ;;
  *" output -raw aws_region") echo "eu-west-1" ;;
  *" output -raw image_tag") echo "v1" ;;
  *" output -raw ecr_force_delete") echo "${FAKE_FORCE_DELETE:-false}" ;;
  *" output -raw service_url") echo "https://abc.eu-west-1.awsapprunner.com" ;;
  *" output -raw dashboard_url") echo "https://console/dash" ;;
  *" output -json service_urls") echo "${FAKE_URLS:-{\}}" ;;
  *" state list") printf '%s\n' ${FAKE_STATE:-} ;;
  *" console"*)
    read -r expr
    case "$expr" in
      *service_regions*) echo "\"${FAKE_REGIONS:-eu-west-1}\"" ;;
      *) echo '"v1"' ;;
    esac ;;
  "aws ecr describe-images --region eu-west-1 "*) [ "${FAKE_IMAGE_EXISTS:-0}" = 1 ] || exit 254 ;;
  "aws ecr describe-images"*) [ "${FAKE_REPLICA:-1}" = 1 ] || exit 254 ;;
  "aws ecr list-images"*) echo "${FAKE_IMAGES:-0}" ;;
esac
"""


@pytest.fixture
def fakes(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("terraform", "aws", "make"):
        p = bindir / name
        p.write_text(FAKE)
        p.chmod(0o755)
    log = tmp_path / "calls.log"
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "TF_VAR_github_subjects": '["repo:org/repo:ref:refs/heads/main"]',
        "HOME": str(tmp_path),
        "MESH_VARS": str(tmp_path / "mesh.auto.tfvars.json"),
    }
    return env, log


def run(script: str, env: dict, **extra) -> tuple[subprocess.CompletedProcess, list[str]]:
    proc = subprocess.run(
        ["bash", str(INFRA / "scripts" / script)],
        env={**env, **extra},
        capture_output=True,
        text=True,
        check=False,
    )
    log = Path(env["FAKE_LOG"])
    calls = log.read_text().splitlines() if log.exists() else []
    return proc, calls


def index(calls: list[str], needle: str) -> int:
    hits = [i for i, c in enumerate(calls) if needle in c]
    assert hits, f"no call containing {needle!r} in:\n" + "\n".join(calls)
    return hits[0]


def test_up_bootstraps_then_pushes_then_creates_the_service(fakes):
    env, _ = fakes
    proc, calls = run("up.sh", env)
    assert proc.returncode == 0, proc.stderr
    init = index(calls, "terraform -chdir=" + str(INFRA) + " init")
    bootstrap = index(calls, "apply -input=false -var create_service=false")
    push = index(calls, "make -C")
    service = index(calls, "apply -input=false -var create_service=true")
    assert init < bootstrap < push < service
    assert calls[push].endswith(
        "buildc push REPOSITORY_URL=123456789012.dkr.ecr.eu-west-1.amazonaws.com/delay-echo "
        "AWS_REGION=eu-west-1 TAG=v1"
    )
    assert "https://abc.eu-west-1.awsapprunner.com" in proc.stdout


def test_up_rerun_keeps_the_existing_service(fakes):
    env, _ = fakes
    proc, calls = run(
        "up.sh", env, FAKE_STATE="aws_ecr_repository.this aws_ecs_express_gateway_service.this[0]"
    )
    assert proc.returncode == 0, proc.stderr
    assert not any("create_service=false" in c for c in calls)
    assert "stage 1: skipped" in proc.stdout
    assert index(calls, "make -C") < index(calls, "create_service=true")


def test_up_does_not_push_a_tag_the_repository_already_holds(fakes):
    env, _ = fakes
    proc, calls = run("up.sh", env, FAKE_IMAGE_EXISTS="1", AUTO_APPROVE="1")
    assert proc.returncode == 0, proc.stderr
    assert not any(c.startswith("make ") for c in calls)
    assert "apply -input=false -auto-approve -var create_service=true" in calls[-3]


def test_up_refuses_to_start_without_inputs(fakes):
    env, _ = fakes
    env = {k: v for k, v in env.items() if k != "TF_VAR_github_subjects"}
    if (INFRA / "terraform.tfvars").exists():
        pytest.skip("a local infra/terraform.tfvars exists")
    proc, calls = run("up.sh", env)
    assert proc.returncode == 2
    assert "terraform.tfvars.example" in proc.stderr
    assert calls == []


def test_down_removes_the_service_and_stops_before_deleting_images(fakes):
    env, _ = fakes
    proc, calls = run("down.sh", env, FAKE_IMAGES="3")
    assert proc.returncode == 1
    assert "still holds 3 image(s)" in proc.stderr
    index(calls, "apply -input=false -var create_service=false")
    assert not any(" destroy " in f" {c} " for c in calls)


def test_down_with_delete_images_enables_force_delete_before_destroying(fakes):
    env, _ = fakes
    proc, calls = run("down.sh", env, FAKE_IMAGES="3", DELETE_IMAGES="1")
    assert proc.returncode == 0, proc.stderr
    force = index(calls, "-var ecr_force_delete=true")
    destroy = index(calls, " destroy ")
    assert "apply" in calls[force] and force < destroy
    assert calls[destroy].endswith("-var create_service=false -var ecr_force_delete=true")


def test_down_destroys_directly_when_nothing_would_be_lost(fakes):
    env, _ = fakes
    proc, calls = run("down.sh", env, FAKE_IMAGES="0")
    assert proc.returncode == 0, proc.stderr
    assert index(calls, "create_service=false") < index(calls, " destroy ")


REGIONS = "eu-west-1 us-east-1 ap-southeast-2"
URLS = '{"eu-west-1": "https://a.example", "us-east-1": "https://b.example", "ap-southeast-2": "https://c.example"}'


def test_up_single_region_has_no_replication_wait_and_no_peer_stage(fakes):
    env, _ = fakes
    proc, calls = run("up.sh", env)
    assert proc.returncode == 0, proc.stderr
    assert not any("--region us-east-1" in c for c in calls)
    assert "stage 4" not in proc.stdout
    assert not Path(env["MESH_VARS"]).exists()


def test_up_multi_region_waits_for_replicas_then_creates_services_then_peers(fakes):
    env, _ = fakes
    proc, calls = run("up.sh", env, FAKE_REGIONS=REGIONS, FAKE_URLS=URLS)
    assert proc.returncode == 0, proc.stderr
    push = index(calls, "make -C")
    replicas = [
        index(calls, f"describe-images --region {r} ") for r in ("us-east-1", "ap-southeast-2")
    ]
    applies = [i for i, c in enumerate(calls) if "apply -input=false -var create_service=true" in c]
    assert len(applies) == 2, calls  # the services, then the same apply with their peers
    assert (
        push < min(replicas)
        and max(replicas) < applies[0] < index(calls, "output -json service_urls") < applies[1]
    )
    assert json.loads(Path(env["MESH_VARS"]).read_text()) == {"peer_urls": json.loads(URLS)}


def test_up_stops_before_the_service_apply_when_the_image_never_replicates(fakes):
    env, _ = fakes
    proc, calls = run("up.sh", env, FAKE_REGIONS=REGIONS, FAKE_REPLICA="0", REPLICATION_TIMEOUT="0")
    assert proc.returncode == 1
    assert "has not reached us-east-1" in proc.stderr and "push a new tag" in proc.stderr
    assert not any("create_service=true" in c for c in calls)


def test_up_rerun_with_regions_updates_replication_before_the_push(fakes):
    env, _ = fakes
    state = 'aws_ecr_repository.this aws_ecs_express_gateway_service.this["eu-west-1"]'
    proc, calls = run("up.sh", env, FAKE_REGIONS=REGIONS, FAKE_URLS=URLS, FAKE_STATE=state)
    assert proc.returncode == 0, proc.stderr
    assert not any("create_service=false" in c for c in calls)
    target = index(calls, "-target=aws_ecr_replication_configuration.this")
    assert target < index(calls, "make -C")


def test_down_removes_the_peer_file(fakes):
    env, _ = fakes
    Path(env["MESH_VARS"]).write_text('{"peer_urls": {}}')
    proc, _calls = run("down.sh", env, FAKE_IMAGES="0")
    assert proc.returncode == 0, proc.stderr
    assert not Path(env["MESH_VARS"]).exists()
