"""checkov's Kubernetes checks on rendered manifests, gated on the whole report.

checkov reads a skip from the resource's own annotations (`checkov.io/skip1:
CKV_K8S_43=<reason>`); the gate fails on a failed check, on a file checkov could not parse, and
on a skip without a reason of at least a few words, so every exception is argued where it is made.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from deploy.k8scheck.findings import Finding

MIN_REASON_WORDS = 3


def run(checkov: str, rendered: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Scan every rendered set in one checkov run (its start-up is most of its time).

    Returns one report per name, with the same shape as checkov's own.
    """
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for i, (name, docs) in enumerate(rendered.items()):
            path = Path(tmp) / f"{i}.yaml"
            path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
            files[f"/{path.name}"] = name
        proc = subprocess.run(
            [checkov, "-d", tmp, "--framework", "kubernetes", "--skip-download", "-o", "json"],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_NO_COLOR="1"),
        )
    if not proc.stdout.strip():
        raise RuntimeError(
            f"checkov printed no report (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    report = json.loads(proc.stdout)
    if isinstance(report, list):
        report = next(r for r in report if r.get("check_type") == "kubernetes")
    results = report.get("results", {})
    split: dict[str, dict[str, Any]] = {
        name: {
            "summary": {"parsing_errors": 0, "passed": 0, "failed": 0, "skipped": 0},
            "results": {},
        }
        for name in rendered
    }
    for outcome in ("passed_checks", "failed_checks", "skipped_checks"):
        for c in results.get(outcome, []):
            one = split[files[c["file_path"]]]
            one["results"].setdefault(outcome, []).append(c)
            one["summary"][outcome.split("_")[0]] += 1
    if report.get("summary", {}).get("parsing_errors", 0):
        for one in split.values():
            one["summary"]["parsing_errors"] = report["summary"]["parsing_errors"]
    return split


def skip_reasons(docs: list[dict[str, Any]]) -> list[Finding]:
    findings = []
    for doc in docs:
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        for key, value in annotations.items():
            if not key.startswith("checkov.io/skip"):
                continue
            check, _, reason = str(value).partition("=")
            if len(reason.split()) < MIN_REASON_WORDS:
                name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
                findings.append(
                    Finding(
                        "checkov",
                        name,
                        f"skip of {check} needs a reason: {key}: {check}=<why, {MIN_REASON_WORDS}+ words>",
                    )
                )
    return findings


def evaluate(report: dict[str, Any], docs: list[dict[str, Any]]) -> list[Finding]:
    findings = []
    summary = report.get("summary", {})
    if summary.get("parsing_errors", 0):
        findings.append(
            Finding("checkov", "(file)", f"{summary['parsing_errors']} parsing error(s)")
        )
    for c in report["results"].get("failed_checks", []):
        findings.append(
            Finding("checkov", c["resource"], f"{c['check_id']} failed: {c['check_name']}")
        )
    return findings + skip_reasons(docs)


def check(checkov: str, rendered: dict[str, list[dict[str, Any]]]) -> dict[str, list[Finding]]:
    return {
        name: evaluate(report, rendered[name]) for name, report in run(checkov, rendered).items()
    }
