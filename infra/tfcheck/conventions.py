"""Offline convention checks of a Terraform root module: what no provider schema can say.

- every declared variable is used outside its own block, and every local is used;
- every variable has a type and a non-empty description.

Parsing, references and the provider schema (unknown types, arguments, blocks, attributes,
undeclared names) are schemacheck's job; both read the directory through hcl_module.

Usage: python -m infra.tfcheck.conventions DIR   (exit 0 when clean, 1 with one line per finding)
"""

from __future__ import annotations

import sys
from pathlib import Path

from .hcl_module import Finding, Module


def check_module(module: Module) -> list[Finding]:
    refs = module.references()
    # A variable only read by its own validation is still unused.
    used_vars = {r.key[0] for r in refs if r.kind == "var" and r.owner != ("variable", r.key[0])}
    used_locals = {r.key[0] for r in refs if r.kind == "local" and r.owner != ("local", r.key[0])}
    findings = []
    for name, (rel, body) in sorted(module.variables.items()):
        if name not in used_vars:
            findings.append(
                Finding("unused-variable", rel, f'variable "{name}" is declared but never used')
            )
        if "type" not in body:
            findings.append(
                Finding("variable-type", rel, f'variable "{name}" has no type; add type = ...')
            )
        desc = body.get("description")
        if not isinstance(desc, str) or not desc.strip():
            findings.append(
                Finding(
                    "variable-description",
                    rel,
                    f'variable "{name}" has no description; add a non-empty description',
                )
            )
    for name, rel in sorted(module.locals.items()):
        if name not in used_locals:
            findings.append(
                Finding("unused-local", rel, f'local "{name}" is declared but never used')
            )
    return findings


def check_directory(directory: str | Path) -> list[Finding]:
    """Conventions only; a file that does not parse is reported by schemacheck."""
    return check_module(Module(Path(directory)))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m infra.tfcheck.conventions DIR", file=sys.stderr)
        return 2
    findings = check_directory(argv[1])
    for f in findings:
        print(f)
    if findings:
        print(f"tfcheck: {len(findings)} finding(s) in {argv[1]}", file=sys.stderr)
        return 1
    print(f"tfcheck: {argv[1]}: every variable is typed, described and used; every local is used")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
