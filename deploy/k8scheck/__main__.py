"""`python -m deploy.k8scheck`: render every overlay (or check rendered files) and print the findings.

Exit 0 when nothing was found, 1 with one line per finding, 2 when a tool is missing.
"""

from __future__ import annotations

import argparse
import os
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="delay-echo-k8scheck", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--kubectl",
        default=os.environ.get("KUBECTL"),
        help="kubectl 1.30+ (default: $KUBECTL, PATH)",
    )
    parser.add_argument(
        "--checkov", default=os.environ.get("CHECKOV"), help="checkov (default: $CHECKOV)"
    )
    parser.add_argument("--no-checkov", action="store_true", help="leave out the checkov scan")
    parser.add_argument(
        "--delay-echo",
        help="the delay-echo binary whose metrics and settings the rules check against "
        "(default: $DELAY_ECHO_BIN, else target/debug/delay-echo, else target/release/delay-echo)",
    )
    parser.add_argument(
        "--manifests", nargs="+", type=Path, help="check these rendered YAML files instead"
    )
    parser.add_argument(
        "overlays", nargs="*", type=Path, help="kustomizations to render (default: every overlay)"
    )
    args = parser.parse_args(argv)
    checkov = None if args.no_checkov else args.checkov
    if not args.no_checkov and not checkov:
        print(
            "k8scheck: checkov not given: pass --checkov, set CHECKOV, or --no-checkov",
            file=sys.stderr,
        )
        return 2

    try:
        delay_echo = DelayEcho(service.find(args.delay_echo))
    except FileNotFoundError as e:
        print(f"k8scheck: {e}", file=sys.stderr)
        return 2

    targets: list[tuple[str, list[dict[str, Any]], list[Finding]]] = []
    if args.manifests:
        for path in args.manifests:
            targets.append((str(path), render.load_documents(path.read_text(encoding="utf-8")), []))
    else:
        try:
            kubectl = render.find_kubectl(args.kubectl)
        except FileNotFoundError as e:
            print(f"k8scheck: {e}", file=sys.stderr)
            return 2
        for overlay in args.overlays or sorted(p for p in OVERLAYS.iterdir() if p.is_dir()):
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


if __name__ == "__main__":
    sys.exit(main())
