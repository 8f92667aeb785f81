"""What `delay-echo-k8scheck` does (`__main__.py` only parses its arguments): render every overlay
(or read rendered files), run every validator and print the findings. Exit 0 when nothing was
found, 1 with one line per finding, 2 when a tool is missing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from deploy.k8scheck import checkov_scan, render, rules, schemas, service
from deploy.k8scheck.findings import Finding
from deploy.k8scheck.service import DelayEcho

OVERLAYS = Path(__file__).resolve().parent.parent / "kubernetes" / "overlays"


def check_documents(docs: list[dict[str, Any]], delay_echo: DelayEcho) -> list[Finding]:
    """Every validator but checkov, which runs once for all sets (see checkov_scan.run)."""
    return schemas.validate(docs, schemas.load_crds()) + rules.check(docs, delay_echo)


def check(
    *,
    kubectl: str | None,
    checkov: str | None,
    no_checkov: bool,
    delay_echo_path: str | None,
    manifests: list[Path] | None,
    overlays: list[Path],
) -> int:
    checkov = None if no_checkov else checkov
    if not no_checkov and not checkov:
        print(
            "k8scheck: checkov not given: pass --checkov, set CHECKOV, or --no-checkov",
            file=sys.stderr,
        )
        return 2

    try:
        delay_echo = DelayEcho(service.find(delay_echo_path))
    except FileNotFoundError as e:
        print(f"k8scheck: {e}", file=sys.stderr)
        return 2

    targets: list[tuple[str, list[dict[str, Any]], list[Finding]]] = []
    if manifests:
        for path in manifests:
            targets.append((str(path), render.load_documents(path.read_text(encoding="utf-8")), []))
    else:
        try:
            kubectl = render.find_kubectl(kubectl)
        except FileNotFoundError as e:
            print(f"k8scheck: {e}", file=sys.stderr)
            return 2
        for overlay in overlays or sorted(p for p in OVERLAYS.iterdir() if p.is_dir()):
            docs, failed = render.render_findings(kubectl, overlay)
            targets.append((str(overlay), docs, failed))

    scanned = checkov_scan.check(checkov, {n: d for n, d, _ in targets if d}) if checkov else {}
    total = 0
    for name, docs, failed in targets:
        findings = (
            failed + (check_documents(docs, delay_echo) if docs else []) + scanned.get(name, [])
        )
        total += len(findings)
        status = "ok" if not findings else f"{len(findings)} finding(s)"
        print(f"{name}: {len(docs)} resources: {status}")
        for f in findings:
            print(f"  {f}")
    return 1 if total else 0
