"""The GitHub Actions workflows keep the project's policy, beyond what zizmor and checkov check.

Actions pinned by commit SHA with a version comment, on the current majors; `contents: read`
at the top and every widened permission explained; no persisted checkout credentials; a
concurrency group; CI's jobs and gate; build-and-push's OIDC-only AWS access, tags,
attestations and summary; Dependabot for every ecosystem the repository pins.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.image.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+?)@(\S+)(?:\s+#\s*(\S+))?\s*$")

# Majors that are current (shared/aws-notes.md); an older major fails here.
MAJORS = {
    "actions/checkout": 7,
    "aws-actions/configure-aws-credentials": 6,
    "aws-actions/amazon-ecr-login": 2,
    "docker/setup-buildx-action": 4,
    "docker/build-push-action": 7,
}


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def steps(wf: dict):
    for name, job in wf["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


@pytest.fixture(params=WORKFLOWS, ids=lambda p: p.name)
def workflow(request) -> Path:
    return request.param


def test_there_are_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "build-and-push.yml"}


def test_actions_are_pinned_by_sha_with_a_version_comment(workflow: Path) -> None:
    found = 0
    for line in workflow.read_text().splitlines():
        if not re.match(r"^\s*(?:-\s+)?uses:", line):
            continue
        m = USES.match(line)
        assert m, f"{workflow.name}: cannot read `{line.strip()}`"
        action, ref, comment = m.groups()
        if action.startswith("./"):
            continue
        found += 1
        assert re.fullmatch(r"[0-9a-f]{40}", ref), (
            f"{workflow.name}: {action}@{ref} is not pinned by commit SHA"
        )
        assert comment and re.fullmatch(r"v\d+(\.\d+){0,2}", comment), (
            f"{workflow.name}: {action} lacks a `# vX.Y.Z` comment"
        )
        major = MAJORS.get(action)
        if major is not None:
            assert comment.startswith(f"v{major}"), (
                f"{workflow.name}: {action} {comment} is not the current major v{major}"
            )
    assert found > 0


def test_same_action_same_pin_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for wf in WORKFLOWS:
        for line in wf.read_text().splitlines():
            m = USES.match(line)
            if m:
                pins.setdefault(m.group(1), set()).add(f"{m.group(2)} {m.group(3)}")
    mixed = {a: p for a, p in pins.items() if len(p) > 1}
    assert not mixed, mixed


def test_permissions_start_read_only_and_widenings_are_explained(workflow: Path) -> None:
    wf = load(workflow)
    assert wf.get("permissions") == {"contents": "read"}, (
        f"{workflow.name}: top-level permissions must be `contents: read`"
    )
    lines = workflow.read_text().splitlines()
    for name, job in wf["jobs"].items():
        perms = job.get("permissions")
        if perms is None:
            continue
        assert isinstance(perms, dict), (
            f"{workflow.name}/{name}: use a permission map, not read-all/write-all"
        )
        for scope, level in perms.items():
            if (scope, level) == ("contents", "read"):
                continue
            line = next(li for li in lines if re.match(rf"^\s+{re.escape(scope)}:\s*{level}\b", li))
            assert "#" in line, (
                f"{workflow.name}/{name}: `{scope}: {level}` needs a comment saying why"
            )


def test_checkout_never_persists_credentials(workflow: Path) -> None:
    wf = load(workflow)
    checkouts = [
        (n, s) for n, s in steps(wf) if str(s.get("uses", "")).startswith("actions/checkout@")
    ]
    for name, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"{workflow.name}/{name}"


def test_concurrency_group(workflow: Path) -> None:
    wf = load(workflow)
    assert "group" in wf.get("concurrency", {}), f"{workflow.name} has no concurrency group"


def test_no_expressions_inside_run_scripts(workflow: Path) -> None:
    # Values reach scripts through env:, never by template expansion (script injection).
    for name, step in steps(load(workflow)):
        assert "${{" not in step.get("run", ""), f"{workflow.name}/{name}: `${{{{` inside run:"


def test_ci_runs_make_test_a_docker_build_a_smoke_test_and_a_gate() -> None:
    wf = load(ROOT / ".github/workflows/ci.yml")
    assert {"push", "pull_request"} <= set(wf["on"])
    jobs = wf["jobs"]
    runs = {n: [s.get("run", "") for s in j.get("steps", [])] for n, j in jobs.items()}
    uses = {n: [s.get("uses", "") for s in j.get("steps", [])] for n, j in jobs.items()}
    assert any("make test" in r for rs in runs.values() for r in rs)
    test_job = next(n for n, rs in runs.items() if any(r.strip() == "make test" for r in rs))
    assert any(u.startswith(("Swatinem/rust-cache@", "actions/cache@")) for u in uses[test_job]), (
        "no dependency cache"
    )
    build_job = next(
        n for n, us in uses.items() if any(u.startswith("docker/build-push-action@") for u in us)
    )
    build = next(
        s
        for s in jobs[build_job]["steps"]
        if s.get("uses", "").startswith("docker/build-push-action@")
    )
    assert (
        build["with"]["context"] == "."
        and build["with"]["load"] is True
        and build["with"]["push"] is False
    )
    assert any("scripts/image/smoke.sh" in r for r in runs[build_job])
    gates = [n for n, j in jobs.items() if set(j.get("needs", [])) == set(jobs) - {n}]
    assert len(gates) == 1, "one final job must need every other job"
    assert jobs[gates[0]].get("if") == "always()", (
        "the gate must run (and fail) when a needed job fails"
    )


def test_build_and_push_uses_oidc_and_publishes_what_was_asked() -> None:
    path = ROOT / ".github/workflows/build-and-push.yml"
    text = path.read_text()
    wf = load(path)
    on = wf["on"]
    assert on["push"]["branches"] == ["main"] and on["push"]["tags"] and "workflow_dispatch" in on
    assert "secrets." not in text and "aws-access-key-id" not in text, (
        "AWS access must be OIDC only"
    )
    (job,) = wf["jobs"].values()
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    by_action = {s["uses"].split("@")[0]: s for s in job["steps"] if "uses" in s}
    creds = by_action["aws-actions/configure-aws-credentials"]["with"]
    assert (
        creds["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
        and creds["aws-region"] == "${{ vars.AWS_REGION }}"
    )
    assert "aws-actions/amazon-ecr-login" in by_action and "docker/setup-buildx-action" in by_action
    tags = by_action["docker/metadata-action"]["with"]["tags"]
    for kind in ("type=sha", "github.run_number", "type=semver"):
        assert kind in tags, f"no {kind} tag"
    build = by_action["docker/build-push-action"]["with"]
    assert (
        build["push"] is True
        and build["sbom"] is True
        and str(build["provenance"]).startswith("mode=")
    )
    assert "type=gha" in build["cache-from"] and "type=gha" in build["cache-to"]
    summary = [s for s in job["steps"] if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert any("steps.build.outputs.digest" in str(s.get("env", {})) for s in summary), (
        "digest not in the job summary"
    )
    deploy = next(s for s in job["steps"] if "start-deployment" in s.get("run", ""))
    assert deploy["if"] == "vars.APPRUNNER_SERVICE_ARN != ''"


def test_dependabot_covers_every_pinned_ecosystem() -> None:
    cfg = yaml.safe_load((ROOT / ".github/dependabot.yml").read_text())
    assert cfg["version"] == 2
    ecosystems = {u["package-ecosystem"] for u in cfg["updates"]}
    assert ecosystems >= {"cargo", "docker", "github-actions"}
