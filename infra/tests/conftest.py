"""Shared fixtures for the offline Terraform tests: where things are, and the parsed stack."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import hcl2
import pytest

TESTS = Path(__file__).resolve().parent
INFRA = TESTS.parent
CLOUDRUN = INFRA / "cloudrun"
FIXTURES = TESTS / "fixtures"
# The pinned provider wheels (make infra-schemas downloads them with hashes).
SCHEMAS = Path(os.environ.get("SCHEMA_DIR") or INFRA.parent / ".tools" / "provider-schemas")


@pytest.fixture
def broken_fixture(tmp_path):
    """A fixture folder, with `*.tf.broken` files renamed to `*.tf` in a copy.

    Files that do not parse are stored as .tf.broken so `terraform fmt -check -recursive infra`
    stays clean; the checkers see them under their real name.
    """

    def materialise(name: str) -> Path:
        source = FIXTURES / name
        if not any(source.glob("*.broken")):
            return source
        target = tmp_path / name
        shutil.copytree(source, target)
        for p in target.glob("*.tf.broken"):
            p.rename(p.with_suffix(""))
        return target

    return materialise


@pytest.fixture(scope="session")
def infra_dir() -> Path:
    return INFRA


def merged_module(directory: Path) -> dict:
    """Every top-level block of directory/*.tf, merged: {"resource": {type: {name: body}}, ...}."""
    from infra.tfcheck.hcl_module import OPTIONS

    merged: dict = {
        "resource": {},
        "data": {},
        "variable": {},
        "output": {},
        "locals": {},
        "terraform": [],
    }
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as fh:
            doc = hcl2.load(fh, serialization_options=OPTIONS)
        for kind in ("resource", "data"):
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    merged[kind].setdefault(rtype, {}).update(named)
        for kind in ("variable", "output"):
            for entry in doc.get(kind, []):
                merged[kind].update(entry)
        for entry in doc.get("locals", []):
            merged["locals"].update({k: v for k, v in entry.items() if not k.startswith("__")})
        merged["terraform"] += doc.get("terraform", [])
    return merged


@pytest.fixture(scope="session")
def stack() -> dict:
    """The AWS stack (infra/*.tf), merged."""
    return merged_module(INFRA)
