"""Shared fixtures for the offline Terraform tests: where things are, and the parsed stack."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

TESTS = Path(__file__).resolve().parent
INFRA = TESTS.parent
FIXTURES = TESTS / "fixtures"


@pytest.fixture(scope="session")
def infra_dir() -> Path:
    return INFRA


@pytest.fixture(scope="session")
def stack() -> dict:
    """Every top-level block of infra/*.tf, merged: {"resource": {type: {name: body}}, ...}."""
    from tfcheck import OPTIONS

    merged: dict = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}, "terraform": []}
    for path in sorted(INFRA.glob("*.tf")):
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
