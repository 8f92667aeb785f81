"""Run checkov on a Terraform directory offline and decide pass/fail on the whole report.

checkov's own exit code is not enough: a Terraform file it cannot parse is silently left out and
the run still exits 0, and a skip comment without a reason is accepted. The gate fails when
- any check failed,
- summary.parsing_errors is not 0,
- a `#checkov:skip=` comment has no reason (or checkov recorded a skip without one),
- skips come from anywhere but inline comments (a .checkov.yaml config with skip-check).

Usage: python -m infra.tfcheck.checkov_gate [--checkov PATH] [--skip-path REGEX]...
       [--var-file FILE]... DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# checkov:skip=ID:reason, where ID is CKV_*/CKV2_* and the reason is what a reviewer reads.
SKIP = re.compile(r"#\s*checkov:skip=([A-Za-z0-9_]+)(?::(.*))?")
MIN_REASON_WORDS = 3


# Where `make` installs checkov, in a venv of its own (mk/venv.mk).
PROJECT_CHECKOV = Path(__file__).resolve().parents[2] / ".tools" / "checkov" / "bin" / "checkov"


def find_checkov(explicit: str | None = None) -> str:
    """checkov: the one given, else $CHECKOV, else the project's own, else checkov on PATH."""
    candidate = explicit or os.environ.get("CHECKOV")
    if not candidate and PROJECT_CHECKOV.exists():
        candidate = str(PROJECT_CHECKOV)
    candidate = candidate or shutil.which("checkov")
    if not candidate or not Path(candidate).exists():
        raise FileNotFoundError(
            "checkov not found: set CHECKOV=/path/to/checkov or run `make test-infra`, "
            f"which installs it in its own venv ({PROJECT_CHECKOV})"
        )
    return candidate


def run_checkov(
    directory: str | Path,
    checkov: str | None = None,
    skip_paths: tuple[str, ...] = (),
    var_files: tuple[str | Path, ...] = (),
) -> dict:
    """Run checkov offline (--skip-download) and return the terraform report as a dict.

    checkov scans sub-directories too; `skip_paths` keeps the broken test fixtures under
    infra/tests out of the scan of infra/ (terraform itself never loads sub-directories).
    checkov evaluates `count` from the variables' defaults and leaves out what is off by default
    (e.g. the records pipeline); `var_files` turn such features on for the scan.
    """
    cmd = [
        find_checkov(checkov),
        "-d",
        str(directory),
        "--framework",
        "terraform",
        "--skip-download",
        "-o",
        "json",
    ]
    for p in skip_paths:
        cmd += ["--skip-path", p]
    for f in var_files:
        cmd += ["--var-file", str(f)]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_NO_COLOR="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    out = proc.stdout.strip()
    if not out:
        raise RuntimeError(
            f"checkov printed no report (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    report = json.loads(out)
    if isinstance(report, list):  # one entry per framework; we asked for terraform only
        report = next((r for r in report if r.get("check_type") == "terraform"), report[0])
    # With nothing to scan (e.g. every file failed to parse) checkov prints only a summary.
    report.setdefault("results", {"passed_checks": [], "failed_checks": [], "skipped_checks": []})
    return report


def skip_comment_problems(directory: str | Path) -> list[str]:
    problems = []
    for path in sorted(Path(directory).glob("*.tf")):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = SKIP.search(line)
            if not m:
                continue
            reason = (m.group(2) or "").strip()
            if len(reason.split()) < MIN_REASON_WORDS:
                problems.append(
                    f"{path.name}:{lineno}: skip of {m.group(1)} needs a reason: "
                    f"#checkov:skip={m.group(1)}:<why this does not apply, {MIN_REASON_WORDS}+ words>"
                )
    return problems


def evaluate(report: dict, directory: str | Path) -> list[str]:
    """Return every reason the report (and the skip comments in `directory`) fails the gate."""
    problems = []
    summary = report.get("summary", {})
    if summary.get("parsing_errors", 0) != 0:
        problems.append(
            f"checkov could not parse {summary['parsing_errors']} file(s); parsing_errors must be 0"
        )
    for c in report["results"].get("failed_checks", []):
        problems.append(
            f"{c['check_id']} failed on {c['resource']} ({c['file_path'].lstrip('/')}:"
            f"{c['file_line_range'][0]}): {c['check_name']}"
        )
    for c in report["results"].get("skipped_checks", []):
        comment = (c.get("check_result", {}).get("suppress_comment") or "").strip()
        if not comment or comment == "No comment provided":
            problems.append(f"{c['check_id']} skipped on {c['resource']} without a reason")
    problems += skip_comment_problems(directory)
    for cfg in (".checkov.yaml", ".checkov.yml"):
        if (Path(directory) / cfg).exists():
            problems.append(
                f"{cfg} in {directory}: skips must be inline #checkov:skip comments with a reason"
            )
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", help="checkov executable (default: $CHECKOV or PATH)")
    parser.add_argument(
        "--skip-path",
        action="append",
        default=[],
        help="path regex to leave out of the scan (repeatable), e.g. tests/",
    )
    parser.add_argument(
        "--var-file",
        action="append",
        default=[],
        help="tfvars file checkov evaluates the module with (repeatable), to scan opt-in features",
    )
    parser.add_argument("directory")
    args = parser.parse_args(argv)
    report = run_checkov(args.directory, args.checkov, tuple(args.skip_path), tuple(args.var_file))
    problems = evaluate(report, args.directory)
    s = report.get("summary", {})
    print(
        f"checkov {s.get('checkov_version', '?')}: passed {s.get('passed', 0)}, failed {s.get('failed', 0)}, "
        f"skipped {s.get('skipped', 0)}, parsing errors {s.get('parsing_errors', 0)}, "
        f"resources {s.get('resource_count', 0)}"
    )
    for p in problems:
        print(f"  {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
