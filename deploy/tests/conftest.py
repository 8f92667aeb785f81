"""Where the manifests, fixtures and tools are for the deploy/ tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from deploy.k8scheck.service import DelayEcho, find
from infra.tfcheck.checkov_gate import find_checkov

TESTS = Path(__file__).resolve().parent
DEPLOY = TESTS.parent
FIXTURES = TESTS / "fixtures"
OVERLAYS = DEPLOY / "kubernetes" / "overlays"


@pytest.fixture(scope="session")
def kubectl() -> str:
    found = os.environ.get("KUBECTL") or shutil.which("kubectl")
    assert found, "set KUBECTL (make test-k8s fetches the pinned kubectl)"
    return found


@pytest.fixture(scope="session")
def checkov() -> str:
    return find_checkov()


@pytest.fixture(scope="session")
def delay_echo() -> DelayEcho:
    """The binary the rules ask (make test-k8s builds it): $DELAY_ECHO_BIN, else the dev build."""
    return DelayEcho(find())
