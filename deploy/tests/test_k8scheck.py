"""make k8s-validate's validators: the overlays pass every one, and each one catches the kind of
mistake it is there for, on a fixture broken on purpose (deploy/tests/fixtures)."""

from __future__ import annotations

import pytest

from deploy.k8scheck import __main__ as cli
from deploy.k8scheck import checkov_scan, commands, render, rules, schemas
from deploy.k8scheck.findings import Finding
from deploy.tests.conftest import FIXTURES, OVERLAYS


def load(name: str) -> list[dict]:
    return render.load_documents((FIXTURES / name).read_text(encoding="utf-8"))


def by(validator: str, findings: list[Finding]) -> list[str]:
    return [f"{f.resource}: {f.message}" for f in findings if f.validator == validator]


def has(messages: list[str], *fragments: str) -> bool:
    return any(all(fr in m for fr in fragments) for m in messages)


@pytest.fixture(scope="module")
def rendered(kubectl) -> dict[str, list[dict]]:
    return {o.name: render.render(kubectl, o) for o in sorted(OVERLAYS.iterdir()) if o.is_dir()}


def test_every_overlay_renders_what_its_autoscaler_needs(rendered):
    kinds = {name: {(d["apiVersion"], d["kind"]) for d in docs} for name, docs in rendered.items()}
    assert set(kinds) == {"hpa", "keda", "knative"}
    assert ("autoscaling/v2", "HorizontalPodAutoscaler") in kinds["hpa"]
    assert ("keda.sh/v1alpha1", "ScaledObject") in kinds["keda"]
    assert ("serving.knative.dev/v1", "Service") in kinds["knative"]
    # Knative makes its own Deployment and Service; the others keep the base's.
    assert ("apps/v1", "Deployment") not in kinds["knative"]
    assert ("v1", "Service") not in kinds["knative"]
    for name in ("hpa", "keda"):
        assert {("apps/v1", "Deployment"), ("v1", "Service")} <= kinds[name]
        deployment = next(d for d in rendered[name] if d["kind"] == "Deployment")
        assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"


def test_knative_service_gets_the_base_container_settings(rendered):
    ksvc = next(d for d in rendered["knative"] if d["kind"] == "Service")
    container = ksvc["spec"]["template"]["spec"]["containers"][0]
    configmap = next(d for d in rendered["knative"] if d["kind"] == "ConfigMap")
    # the hashed name of the generated ConfigMap, not the name written in the base
    assert container["envFrom"] == [{"configMapRef": {"name": configmap["metadata"]["name"]}}]
    assert configmap["metadata"]["name"].startswith("delay-echo-env-")
    deployment = next(d for d in rendered["hpa"] if d["kind"] == "Deployment")
    base = deployment["spec"]["template"]["spec"]["containers"][0]
    for key in ("image", "resources", "securityContext"):
        assert container[key] == base[key], key


def test_the_overlays_pass_every_validator_but_checkov(rendered, delay_echo):
    # checkov on the overlays: make k8s-validate, and test_checkov_passes_the_overlays_in_a_real_scan
    for name, docs in rendered.items():
        findings = commands.check_documents(docs, delay_echo)
        assert findings == [], f"{name}:\n" + "\n".join(map(str, findings))


def test_the_cli_passes_the_overlays_and_fails_a_fixture(kubectl, capsys, monkeypatch, delay_echo):
    monkeypatch.delenv("CHECKOV", raising=False)
    binary = ["--delay-echo", str(delay_echo.binary)]
    assert cli.main(["--no-checkov", "--kubectl", kubectl, *binary]) == 0
    assert (
        cli.main(["--no-checkov", *binary, "--manifests", str(FIXTURES / "rules-keda.yaml")]) == 1
    )
    out = capsys.readouterr().out
    assert "rules-keda.yaml: 3 resources: 5 finding(s)" in out
    assert cli.main(["--kubectl", kubectl, *binary]) == 2  # checkov neither given nor left out
    missing = ["--no-checkov", "--delay-echo", "/nonexistent/delay-echo", "--manifests"]
    assert cli.main([*missing, str(FIXTURES / "rules-keda.yaml")]) == 2
    assert "delay-echo not found at /nonexistent/delay-echo" in capsys.readouterr().err


def test_render_catches_a_kustomization_kustomize_refuses(kubectl):
    docs, findings = render.render_findings(kubectl, FIXTURES / "render-broken")
    assert docs == []
    assert len(findings) == 1 and findings[0].validator == "render"
    assert "scaled-object.yaml" in findings[0].message and "no such file" in findings[0].message


def test_the_vendored_crds_are_the_ones_the_readme_names():
    crds = schemas.load_crds()
    assert set(crds) == {
        ("keda.sh/v1alpha1", "ScaledObject"),
        ("serving.knative.dev/v1", "Service"),
    }
    readme = (schemas.SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    for path in sorted(schemas.SCHEMA_DIR.glob("*.yaml")):
        assert path.name in readme


# What each validator must catch on its fixture: (fixture, validator, one tuple of fragments per
# finding, all of which one finding's text contains). Exactly these findings, no more.
CAUGHT = [
    ("kubernetes-schema.yaml", "kubernetes-schema", [
        ("Deployment/delay-echo", "spec.replicas", "'two' is not of type 'integer'"),
        ("readinessProbe.httpGet", "'paht' was unexpected"),
        ("Service/delay-echo", "spec.ports.0", "'port' is a required property"),
        ("HorizontalPodAutoscaler/delay-echo", "no schema for HorizontalPodAutoscaler in autoscaling/v3"),
    ]),
    ("crd-schema.yaml", "crd-schema", [
        ("ScaledObject.keda.sh/delay-echo", "'pollingIntervall' was unexpected"),
        ("ScaledObject.keda.sh/delay-echo", "spec.minReplicaCount", "'one' is not of type 'integer'"),
        ("Service.serving.knative.dev/delay-echo", "containers.0", "'lifecycle' was unexpected"),
        ("Service.serving.knative.dev/delay-echo", "containerConcurrency", "'ten' is not of type 'integer'"),
    ]),
    ("rules-deployment.yaml", "rules", [
        ("Deployment/delay-echo", "SHUTDOWN_TIMEOUT 20s is shorter than the longest allowed request", "31s"),
        ("terminationGracePeriodSeconds 25 is shorter than preStop sleep 5s + DRAIN_DELAY 5s + SHUTDOWN_TIMEOUT 20s = 30s",),
        ("livenessProbe must be an httpGet on /healthz, not '/readyz'",),
        ("readOnlyRootFilesystem must be true",),
        ("resources.limits.cpu is missing",),
        ("HorizontalPodAutoscaler/delay-echo", "scaleTargetRef Deployment/delay-echo-v2"),
    ]),
    ("rules-knative.yaml", "rules", [
        ("autoscaling.knative.dev/window '5s' must be whole seconds from 6s to 1h",),
        ("panic-threshold-percentage '100' must be a number from 110 to 1000",),
        ("max-scale 2 is less than min-scale 5",),
        ("autoscaling.knative.dev/targt is not an annotation Knative knows",),
        ("timeoutSeconds 60 is shorter than queue-proxy drain 30s + DRAIN_DELAY 5s + SHUTDOWN_TIMEOUT 31s = 66s",),
    ]),
    ("rules-keda.yaml", "rules", [
        ("metadata.serverAdress is not a key the prometheus scaler reads",),
        ("metadata.serverAddress is required",),
        ("metadata.threshold 'ten' must be a number",),
        ("delay_echo_inflight_requests, which delay-echo does not export",),
        ("scaleTargetRef Deployment/delay-echo-api",),
    ]),
]  # fmt: skip


@pytest.mark.parametrize(("fixture", "validator", "expected"), CAUGHT, ids=[c[0] for c in CAUGHT])
def test_each_validator_catches_its_kind_of_mistake(fixture, validator, expected, delay_echo):
    found = by(validator, commands.check_documents(load(fixture), delay_echo))
    for fragments in expected:
        assert has(found, *fragments), (fragments, found)
    assert len(found) == len(expected), found


def test_the_metrics_are_the_ones_the_binary_lists(delay_echo):
    # tests/binary.rs checks the listing against a live scrape; here, what the rules read of it.
    assert delay_echo.metrics["delay_echo_in_flight_requests"] == "gauge"
    assert delay_echo.metrics["delay_echo_rejected_requests_total"] == "counter"
    assert "delay_echo_inflight_requests" not in delay_echo.metrics
    assert delay_echo.probes == {
        "liveness": "/healthz",
        "readiness": "/readyz",
        "metrics": "/metrics",
    }


@pytest.mark.parametrize(
    ("env", "key", "seconds"),
    [
        ({}, "shutdown_timeout_s", 10.0),
        ({"DELAY_ECHO_DRAIN_DELAY": "1.5s"}, "drain_delay_s", 1.5),
        ({"DELAY_ECHO_MAX_DELAY": "500us", "DELAY_ECHO_DELAY": "0"}, "max_delay_s", 0.0005),
        ({"DELAY_ECHO_SHUTDOWN_TIMEOUT": "0"}, "shutdown_timeout_s", 0.0),
    ],
)
def test_a_containers_settings_are_resolved_by_the_service(delay_echo, env, key, seconds):
    assert delay_echo.config(env)[key] == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DELAY_ECHO_SHUTDOWN_TIMEOUT": "5"}, "has no unit"),
        ({"DELAY_ECHO_DRAIN_DELAY": "-5s"}, "is negative"),
        ({"DELAY_ECHO_MAX_CPU": "soon"}, "DELAY_ECHO_MAX_CPU"),
    ],
)
def test_settings_the_service_refuses_are_findings_with_its_reason(delay_echo, env, says):
    docs = load("rules-deployment.yaml")
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    configmap["data"].update(env)
    found = by("rules", commands.check_documents(docs, delay_echo))
    assert has(found, "delay-echo refuses its environment", says, "allowed:"), found


@pytest.mark.parametrize(("text", "seconds"), [("60s", 60.0), ("1m30s", 90.0), ("1h", 3600.0)])
def test_knative_durations_parse_as_go_does(text, seconds):
    assert rules.go_seconds(text) == seconds


@pytest.mark.parametrize("text", ["60", "-5s", "soon", "1m30"])
def test_go_durations_go_refuses_are_refused(text):
    with pytest.raises(ValueError, match="not a Go duration"):
        rules.go_seconds(text)


@pytest.fixture(scope="module")
def checkov_reports(rendered, checkov) -> dict[str, dict]:
    """One checkov run over the overlays and the broken fixture (its start-up is most of its time)."""
    return checkov_scan.run(checkov, {**rendered, "fixture": load("checkov.yaml")})


def test_checkov_catches_a_privileged_container_and_a_skip_without_reason(checkov_reports):
    found = by("checkov", checkov_scan.evaluate(checkov_reports["fixture"], load("checkov.yaml")))
    assert has(found, "CKV_K8S_16", "privileged")
    assert has(found, "CKV_K8S_20", "allowPrivilegeEscalation")
    assert has(found, "skip of CKV_K8S_43 needs a reason")


def test_checkov_passes_the_overlays_in_a_real_scan(rendered, checkov_reports):
    for name in rendered:
        report = checkov_reports[name]
        assert checkov_scan.evaluate(report, rendered[name]) == [], name
        assert report["summary"]["failed"] == 0 and report["summary"]["parsing_errors"] == 0
    deployment_checks = [
        c
        for c in checkov_reports["hpa"]["results"]["passed_checks"]
        if c["resource"].startswith("Deployment.")
    ]
    assert len(deployment_checks) >= 30
    skipped = checkov_reports["hpa"]["results"].get("skipped_checks", [])
    assert [s["check_id"] for s in skipped] == ["CKV_K8S_43"]
    assert len(skipped[0]["check_result"]["suppress_comment"].split()) >= 3
