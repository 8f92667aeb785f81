"""Issue 14 point 3 on the parsed Cloud Run module: concurrency, instance bounds, probes, the
Artifact Registry image, the CPU allocation switch, the URL output, and the staged-apply guard.
(Types, arguments and blocks are checked against the Google schema in test_schemacheck.py.)"""

from __future__ import annotations

import pytest

from infra.tests.conftest import CLOUDRUN, merged_module


@pytest.fixture(scope="module")
def cloudrun() -> dict:
    return merged_module(CLOUDRUN)


def one(body, key):
    value = body[key]
    assert isinstance(value, list) and len(value) == 1, key
    return value[0]


def test_own_root_module_with_only_the_google_provider():
    versions = (CLOUDRUN / "versions.tf").read_text()
    assert 'source  = "hashicorp/google"' in versions and "hashicorp/aws" not in versions
    assert all("aws_" not in p.read_text() for p in CLOUDRUN.glob("*.tf"))


def test_service_scaling_and_concurrency(cloudrun):
    svc = cloudrun["resource"]["google_cloud_run_v2_service"]["this"]
    tpl = one(svc, "template")
    assert tpl["max_instance_request_concurrency"] == "${var.max_concurrency}"
    assert one(tpl, "scaling") == {
        "min_instance_count": "${var.min_instances}",
        "max_instance_count": "${var.max_instances}",
    }
    assert "var.min_instances <= var.max_instances" in str(svc["lifecycle"])


def test_probes_image_and_cpu_allocation(cloudrun):
    container = one(
        one(cloudrun["resource"]["google_cloud_run_v2_service"]["this"], "template"), "containers"
    )
    assert one(one(container, "startup_probe"), "http_get")["path"] == "/readyz"
    assert one(one(container, "liveness_probe"), "http_get")["path"] == "/healthz"
    assert container["image"] == "${local.image}"
    assert "-docker.pkg.dev/" in cloudrun["locals"]["repository_url"]
    assert (
        "google_artifact_registry_repository.this.repository_id"
        in cloudrun["locals"]["repository_url"]
    )
    resources = one(container, "resources")
    assert resources["cpu_idle"] == '${var.cpu_allocation == "request"}'
    cond = cloudrun["variable"]["cpu_allocation"]["validation"][0]["condition"]
    assert '"request"' in cond and '"always"' in cond
    assert one(container, "ports")["container_port"] == "${local.container_port}"
    assert cloudrun["locals"]["container_port"] == 8080


def test_staged_apply_guard_and_outputs(cloudrun):
    guard = cloudrun["data"]["google_artifact_registry_docker_image"]["service"]
    assert guard["count"] == "${var.create_service ? 1 : 0}"
    svc = cloudrun["resource"]["google_cloud_run_v2_service"]["this"]
    assert svc["count"] == "${var.create_service ? 1 : 0}"
    assert "data.google_artifact_registry_docker_image.service[0]" in str(svc["lifecycle"])
    assert (
        cloudrun["output"]["service_url"]["value"]
        == "${one(google_cloud_run_v2_service.this[*].uri)}"
    )


def test_readme_documents_inputs_outputs_and_cpu_allocation(cloudrun):
    readme = (CLOUDRUN / "README.md").read_text()
    missing = [v for v in cloudrun["variable"] if f"`{v}`" not in readme]
    missing += [o for o in cloudrun["output"] if f"`{o}`" not in readme]
    assert missing == []
    for phrase in (
        "create_service=false",
        "cpu_idle = true",
        "cpu_idle = false",
        "make infra-schema",
    ):
        assert phrase in readme, phrase
