"""`make buildc`, `make runc`, `make stopc` and `make push` on their Docker paths, against
stand-in `docker` and `aws` commands.

There is no Docker engine here, so the stand-ins record every call (one JSON argv per line)
and the tests check what the targets would have asked Docker and the AWS CLI to do. They
run through make itself, so the Makefile wiring is covered too. The stand-in `docker` can play
a machine without the buildx plugin (STUB_NO_BUILDX), without a running engine
(STUB_NO_ENGINE), where the base image cannot be pulled (STUB_NO_PULL) or is already there
(STUB_BASE_PRESENT), answering with the real CLI's messages. Podman is hidden from these tests (PODMAN names a command that does not
exist); its paths run for real in test_container.py and test_push.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.image.conftest import ROOT

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
    if sys.argv[1:3] == ["image", "inspect"] and "rust:" in sys.argv[-1]:
        sys.exit(0 if os.environ.get("STUB_BASE_PRESENT") else "Error: No such image: " + sys.argv[-1])
    if sys.argv[1:3] == ["manifest", "inspect"] and os.environ.get("STUB_NO_PULL"):
        sys.exit("no such manifest: docker.io/library/rust:1.95.0-slim-bookworm")
    if sys.argv[1:2] == ["push"]:
        print(sys.argv[-1].rsplit(":", 1)[1] + ": digest: sha256:" + "ab" * 32 + " size: 528")
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
    env.update(PATH=f"{bindir}:{env['PATH']}", STUB_LOG=str(log), PODMAN="podman-not-installed")
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
    """The questions the script asks before acting: is an engine running (and is it Docker),
    is buildx there, is the base image there or can it be pulled."""
    return (
        call[:2] in (["docker", "info"], ["docker", "--version"])
        or call[:3] == ["docker", "buildx", "version"]
        or call[:3] == ["docker", "manifest", "inspect"]
        or (call[:3] == ["docker", "image", "inspect"] and "rust:" in call[-1])
    )


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
    # The digest the registry gave it, as the stand-in's push reported it.
    assert r.stdout.splitlines()[-2:] == [
        f"pushed {ECR_URL}:42",
        f"digest: {ECR_URL}@sha256:{'ab' * 32}",
    ], r.stdout


def test_push_to_another_registry_without_login(stubs) -> None:
    url = "registry.example.com:5000/team/delay-echo"
    r, calls = stubs("push", f"REPOSITORY_URL={url}", "TAG=7", "REGISTRY_LOGIN=none")
    assert r.returncode == 0, r.stderr
    assert [c for c in calls if c[0] == "aws" or c[1] == "login"] == []
    assert calls[-1] == ["docker", "push", f"{url}:7"]
    assert f"digest: {url}@sha256:{'ab' * 32}" in r.stdout


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
            ["REPOSITORY_URL=docker.io/library/delay-echo"],
            "another registry with REGISTRY_LOGIN=none",
        ),
        (["REPOSITORY_URL=not a url", "REGISTRY_LOGIN=none"], "is not a repository URL"),
        ([f"REPOSITORY_URL={ECR_URL}", "REGISTRY_LOGIN=basic"], "allowed: ecr"),
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


@pytest.mark.parametrize("target", ["runc", "buildc", "stopc"])
def test_without_a_running_engine_the_targets_say_so_and_what_to_install(stubs, target) -> None:
    r, calls = stubs(target, extra_env={"STUB_NO_ENGINE": "1"})
    assert r.returncode == 2
    assert "no Docker engine is running" in r.stderr, r.stderr
    assert "systemctl start docker" in r.stderr and "Docker Desktop" in r.stderr
    assert "Is the docker daemon running?" in r.stderr  # docker's own reason, quoted once
    # ... and the other engine: Podman, with the packages it needs.
    assert "install Podman" in r.stderr and "apt-get install" in r.stderr, r.stderr
    assert "podman runc" in r.stderr
    assert calls == []  # nothing was asked to run, remove or build


def test_without_any_engine_the_targets_name_both(stubs) -> None:
    r, calls = stubs("runc", extra_env={"DOCKER": "docker-not-installed"})
    assert r.returncode == 2
    assert "no container engine" in r.stderr, r.stderr
    assert "the docker CLI ('docker-not-installed') is not installed" in r.stderr
    assert "docs.docker.com/engine/install" in r.stderr and "Podman" in r.stderr
    assert calls == []


def test_engine_docker_insists_on_docker(stubs) -> None:
    r, calls = stubs("runc", "ENGINE=docker", extra_env={"DOCKER": "docker-not-installed"})
    assert r.returncode == 2
    assert "the docker CLI ('docker-not-installed') is not installed" in r.stderr
    assert "docs.docker.com/engine/install" in r.stderr and "Podman" not in r.stderr
    r, calls = stubs("buildc", "ENGINE=podman")
    assert r.returncode == 2 and "Podman ('podman-not-installed') is not installed" in r.stderr
    assert calls == []


def test_buildc_says_it_took_the_full_build(stubs) -> None:
    r, _ = stubs("buildc")
    assert r.returncode == 0, r.stderr
    assert "full multi-stage build with docker" in r.stderr
    assert "docker.io/library/rust:" in r.stderr and "can be pulled" in r.stderr
    r, _ = stubs("buildc", extra_env={"STUB_BASE_PRESENT": "1", "STUB_NO_PULL": "1"})
    assert r.returncode == 0 and "is present" in r.stderr, r.stderr


def test_buildc_offline_needs_buildx_on_docker(stubs) -> None:
    r, calls = stubs("buildc", extra_env={"STUB_NO_PULL": "1", "STUB_NO_BUILDX": "1"})
    assert r.returncode == 2
    assert "cannot be pulled (no such manifest" in r.stderr, r.stderr
    assert "named build context" in r.stderr and "docker-buildx" in r.stderr
    assert calls == []


def test_buildc_offline_refuses_a_foreign_platform(stubs) -> None:
    host = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}[os.uname().machine]
    other = "linux/arm64" if host == "linux/amd64" else "linux/amd64"
    r, calls = stubs("buildc", f"PLATFORM={other}", "BUILD=offline")
    assert r.returncode == 2
    assert f"builds for {host} only" in r.stderr, r.stderr
    assert calls == []


def test_stopc_stops_the_container_and_tolerates_none(stubs) -> None:
    r, calls = stubs("stopc")
    assert r.returncode == 0, r.stderr
    assert calls[-1] == ["docker", "stop", "--time", "30", "delay-echo"]
    r, calls = stubs("stopc", extra_env={"STUB_EXIT_container": "1"})
    assert r.returncode == 0 and "nothing to stop" in r.stderr
    assert [c for c in calls if c[1] == "stop"] == []


def test_runc_runs_read_only_and_publishes_where_asked(stubs) -> None:
    r, calls = stubs("runc", "PORT=0", "HOST_IP=127.0.0.1")
    assert r.returncode == 0, r.stderr
    run = calls[-1]
    assert "--read-only" in run and "--user" not in run  # the image's own user
    assert run[run.index("--publish") + 1] == "127.0.0.1::8080"
    r, calls = stubs("runc", "HOST_IP=not-an-ip")
    assert r.returncode == 2 and "is not an IPv4 address" in r.stderr
