"""`make push` rehearsed against a real registry: Debian's docker-registry on 127.0.0.1, started
by scripts/image/registry.sh with its storage in a temporary folder and stopped afterwards.

Push by tag through `make push` (Podman, REGISTRY_LOGIN=none: everything but the ECR login,
which needs AWS), read the digest it prints, check the registry serves that digest for the
tag, then pull the image back by digest. Every tag and the registry are removed afterwards,
on failure too.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.image.conftest import ROOT, SCRIPTS, container_env, podman

pytestmark = [pytest.mark.live, pytest.mark.container]

REGISTRY_SH = str(SCRIPTS / "registry.sh")
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("registry")
    # Port 0: the registry binds a free port itself and registry.sh reports it (no race).
    r = subprocess.run(
        [REGISTRY_SH, "start", str(folder), "0"], capture_output=True, text=True, timeout=60
    )
    if r.returncode != 0:
        pytest.fail(f"registry.sh start failed:\n{r.stdout}{r.stderr}")
    port = int((folder / "registry.port").read_text())
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([REGISTRY_SH, "stop", str(folder)], timeout=60)
        assert not (folder / "registry.pid").exists()


def test_registry_sh_refuses_a_port_in_use(registry: str, tmp_path: Path) -> None:
    port = registry.rsplit(":", 1)[1]
    r = subprocess.run(
        [REGISTRY_SH, "start", str(tmp_path), port], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1 and "already in use" in r.stderr, r.stdout + r.stderr
    assert not (tmp_path / "registry.pid").exists()
    with urllib.request.urlopen(f"http://{registry}/v2/", timeout=10) as resp:
        assert resp.status == 200  # the first one is untouched
    # Stopping where nothing runs is not an error.
    assert subprocess.run([REGISTRY_SH, "stop", str(tmp_path)], timeout=60).returncode == 0


def test_make_push_then_pull_by_digest(image: dict, registry: str) -> None:
    repository = f"{registry}/delay-echo"
    tag = f"rehearsal-{uuid.uuid4().hex[:8]}"
    pushed = f"{repository}:{tag}"
    pulled = None
    try:
        r = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "push",
                f"IMAGE={image['tag']}",
                f"REPOSITORY_URL={repository}",
                f"TAG={tag}",
                "REGISTRY_LOGIN=none",
                "ENGINE=podman",
            ],
            cwd=ROOT,
            env=container_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        # As it prints it for ECR: the tag pushed, then the digest to pull or deploy by.
        m = re.search(
            rf"^pushed {re.escape(pushed)}\ndigest: ({re.escape(repository)}@(sha256:[0-9a-f]{{64}}))$",
            r.stdout,
            re.MULTILINE,
        )
        assert m, r.stdout
        pulled, digest = m.group(1), m.group(2)

        # The registry holds that digest under the tag.
        req = urllib.request.Request(
            f"http://{registry}/v2/delay-echo/manifests/{tag}",
            method="HEAD",
            headers={"Accept": MANIFEST_TYPES},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["Docker-Content-Digest"] == digest

        # Pull it back by digest (the local tag goes first, so the pull has work to do).
        podman("rmi", pushed)
        podman("pull", "--tls-verify=false", pulled, timeout=120)
        got = json.loads(podman("image", "inspect", pulled).stdout)[0]
        want = json.loads(podman("image", "inspect", image["tag"]).stdout)[0]
        assert got["Id"] == want["Id"]  # the same image: same config, same layers
        assert pulled in got["RepoDigests"], got["RepoDigests"]
    finally:
        podman("rmi", pushed, check=False)
        if pulled:
            podman("rmi", pulled, check=False)
