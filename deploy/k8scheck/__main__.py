"""`python -m deploy.k8scheck`: render every overlay (or check rendered files) and print the findings.

Exit 0 when nothing was found, 1 with one line per finding, 2 when a tool is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from deploy.k8scheck.commands import check


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
    return check(
        kubectl=args.kubectl,
        checkov=args.checkov,
        no_checkov=args.no_checkov,
        delay_echo_path=args.delay_echo,
        manifests=args.manifests,
        overlays=args.overlays,
    )


if __name__ == "__main__":
    sys.exit(main())
