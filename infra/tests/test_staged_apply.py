"""`make infra` and `make infra-destroy` run their stages in the order that keeps every apply from
failing. terraform, aws and make are replaced by recording fakes, so no cloud is touched."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import INFRA

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
  *" state list") printf '%s\n' ${FAKE_STATE:-} ;;
  *" console"*) echo '"v1"' ;;
  "aws ecr describe-images"*) [ "${FAKE_IMAGE_EXISTS:-0}" = 1 ] || exit 254 ;;
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
