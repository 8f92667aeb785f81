"""`make buildc`, `make runc` and `make push` against stand-in `docker` and `aws` commands.

There is no Docker engine here, so the stand-ins record every call (one JSON argv per line)
and the tests check what the targets would have asked Docker and the AWS CLI to do. They
run through make itself, so the Makefile wiring is covered too. The stand-in `docker` can play
a machine without the buildx plugin (STUB_NO_BUILDX) or without a running engine
(STUB_NO_ENGINE), answering with the real CLI's messages.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

ECR_URL = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/delay-echo"

STUB = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0])] + sys.argv[1:]) + "\\n")
if os.path.basename(sys.argv[0]) == "docker":
    if sys.argv[1:2] == ["buildx"] and os.environ.get("STUB_NO_BUILDX"):
        sys.exit("docker: 'buildx' is not a docker command.\\nSee 'docker --help'")
    if sys.argv[1:2] == ["info"] and os.environ.get("STUB_NO_ENGINE"):
        sys.exit("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?")
if sys.argv[1:3] == ["ecr", "get-login-password"]:
    print("stub-password")
if os.path.basename(sys.argv[0]) == "docker" and sys.argv[1:2] == ["login"]:
    sys.stdin.read()
sys.exit(int(os.environ.get("STUB_EXIT_" + sys.argv[1].replace("-", "_"), "0")))
"""


@pytest.fixture
def stubs(tmp_path: Path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("docker", "aws"):
        (bindir / name).write_text(STUB)
        (bindir / name).chmod(0o755)
    log = tmp_path / "calls.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DELAY_ECHO_")}
    env.update(PATH=f"{bindir}:{env['PATH']}", STUB_LOG=str(log))
    env.pop("MAKEFLAGS", None)

    def make(
        *args: str, extra_env: dict[str, str] | None = None
    ) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
        r = subprocess.run(
            ["make", "--no-print-directory", *args],
            cwd=ROOT,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        log.unlink(missing_ok=True)
        return r, [c for c in calls if not is_probe(c)]

    return make


def is_probe(call: list[str]) -> bool:
    """The questions the script asks before acting: is an engine running, is buildx there."""
    return call[:2] == ["docker", "info"] or call[:3] == ["docker", "buildx", "version"]


def test_buildc_builds_for_amd64_by_default(stubs) -> None:
    r, calls = stubs("buildc")
    assert r.returncode == 0, r.stderr
    (call,) = calls
    assert call[:3] == ["docker", "buildx", "build"]
    assert call[call.index("--platform") + 1] == "linux/amd64"
    assert call[call.index("--tag") + 1] == "delay-echo:local"
    assert "--load" in call and call[-1] == "."
    build_args = [call[i + 1] for i, a in enumerate(call) if a == "--build-arg"]
    assert any(a.startswith("VERSION=") and a != "VERSION=" for a in build_args), build_args
    assert any(a.startswith("REVISION=") and len(a) > len("REVISION=") for a in build_args), (
        build_args
    )


def test_buildc_platform_is_overridable_and_checked(stubs) -> None:
    r, calls = stubs("buildc", "PLATFORM=linux/arm64")
    assert r.returncode == 0 and calls[0][calls[0].index("--platform") + 1] == "linux/arm64"
    r, calls = stubs("buildc", "PLATFORM=windows/amd64")
    assert r.returncode != 0 and not calls
    assert "allowed: linux/amd64, linux/arm64" in r.stderr


def test_runc_replaces_the_container_and_passes_settings(stubs) -> None:
    r, calls = stubs(
        "runc",
        extra_env={
            "DELAY_ECHO_DELAY": "200ms",
            "DELAY_ECHO_MAX_CONCURRENCY": "10",
            "DELAY_ECHO_CONTROL_TOKEN": "a token with spaces",
            "UNRELATED": "x",
        },
    )
    assert r.returncode == 0, r.stderr
    rm, run = calls
    assert rm == ["docker", "rm", "--force", "delay-echo"]
    assert run[:2] == ["docker", "run"]
    assert run[run.index("--publish") + 1] == "8080:8080"
    assert run[run.index("--name") + 1] == "delay-echo"
    passed = {run[i + 1] for i, a in enumerate(run) if a == "-e"}
    # Names only: docker takes the values from the environment, untouched.
    assert passed == {"DELAY_ECHO_DELAY", "DELAY_ECHO_MAX_CONCURRENCY", "DELAY_ECHO_CONTROL_TOKEN"}
    assert run[-1] == "delay-echo:local"


def test_runc_port_and_extra_arguments(stubs) -> None:
    r, calls = stubs("runc", "PORT=9090", "ARGS=--access-log --delay 10ms")
    assert r.returncode == 0, r.stderr
    run = calls[-1]
    assert run[run.index("--publish") + 1] == "9090:8080"
    assert run[-4:] == ["delay-echo:local", "--access-log", "--delay", "10ms"]


def test_push_logs_in_tags_and_pushes(stubs) -> None:
    r, calls = stubs("push", f"REPOSITORY_URL={ECR_URL}", "TAG=42")
    assert r.returncode == 0, r.stderr
    assert ["aws", "ecr", "get-login-password", "--region", "eu-west-1"] in calls
    assert [
        "docker",
        "login",
        "--username",
        "AWS",
        "--password-stdin",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    ] in calls
    assert calls[-2:] == [
        ["docker", "tag", "delay-echo:local", f"{ECR_URL}:42"],
        ["docker", "push", f"{ECR_URL}:42"],
    ]


def test_push_tags_by_commit_by_default(stubs) -> None:
    r, calls = stubs("push", f"REPOSITORY_URL={ECR_URL}")
    assert r.returncode == 0, r.stderr
    short = subprocess.run(
        ["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert calls[-1] == ["docker", "push", f"{ECR_URL}:{short}"]


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "set REPOSITORY_URL="),
        (["REPOSITORY_URL=docker.io/library/delay-echo"], "is not an ECR repository URL"),
        (
            [f"REPOSITORY_URL={ECR_URL}", "AWS_REGION=us-east-1"],
            "differs from the repository's region 'eu-west-1'",
        ),
        ([f"REPOSITORY_URL={ECR_URL}", "TAG=-bad"], "is not a valid image tag"),
    ],
)
def test_push_refuses_bad_settings_before_touching_anything(
    stubs, args: list[str], message: str
) -> None:
    r, calls = stubs("push", *args)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert not calls


def test_push_needs_a_local_image(stubs) -> None:
    r, calls = stubs(
        "push", f"REPOSITORY_URL={ECR_URL}", "TAG=1", extra_env={"STUB_EXIT_image": "1"}
    )
    assert r.returncode != 0 and "build it first with 'make buildc'" in r.stderr
    assert [c for c in calls if c[0] == "aws"] == []


def test_buildc_without_buildx_falls_back_to_plain_docker_build(stubs) -> None:
    r, calls = stubs("buildc", extra_env={"STUB_NO_BUILDX": "1"})
    assert r.returncode == 0, r.stderr
    (call,) = calls
    assert call[:2] == ["docker", "build"] and call[-1] == "."
    assert call[call.index("--tag") + 1] == "delay-echo:local"
    assert "--platform" not in call and "--load" not in call
    assert any(a.startswith("VERSION=") for a in call)
    # Says what is missing, what it does instead, and how to get buildx; not docker's usage text.
    assert "buildx plugin is not installed" in r.stderr
    assert "plain 'docker build'" in r.stderr and "docker-buildx" in r.stderr
    assert "unknown flag" not in r.stderr + r.stdout


@pytest.mark.parametrize("target", ["runc", "buildc"])
def test_without_a_running_engine_the_targets_say_so_and_how_to_start_one(stubs, target) -> None:
    r, calls = stubs(target, extra_env={"STUB_NO_ENGINE": "1"})
    assert r.returncode != 0
    assert "no Docker engine is running" in r.stderr, r.stderr
    assert "systemctl start docker" in r.stderr and "Docker Desktop" in r.stderr
    assert "Is the docker daemon running?" in r.stderr  # docker's own reason, quoted once
    assert calls == []  # nothing was asked to run, remove or build


def test_without_the_docker_cli_the_targets_say_how_to_install_it(stubs) -> None:
    r, calls = stubs("runc", extra_env={"DOCKER": "docker-not-installed"})
    assert r.returncode != 0
    assert "the docker CLI ('docker-not-installed') is not installed" in r.stderr
    assert "docs.docker.com/engine/install" in r.stderr
    assert calls == []
