"""Offline static checks of a Terraform root module, for machines without terraform or AWS access.

`terraform validate` needs the provider binaries; this needs only python-hcl2. It proves that
- every *.tf file parses,
- every reference (var., local., data.T.N, module.M, and resource T.N) names something declared,
- every declared variable is used outside its own block, every local is used,
- every variable has a type and a non-empty description.

References are found by walking the expression text that python-hcl2 serialises as `${...}`,
skipping string literals inside expressions (so `jsonencode({A = "aws_x.y"})` is not a reference)
and following nested templates. Names introduced by `dynamic` blocks, `for` expressions and the
built-in objects (count, each, path, self, terraform) are not references to declarations.

Usage: python tfcheck.py DIR   (exit 0 when clean, 1 with one line per finding)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)

# Built-in objects whose attributes are not declarations in the module.
BUILTINS = {"count", "each", "path", "self", "terraform"}

IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
TRAVERSAL = re.compile(rf"(?<![\w.\-\]])({IDENT})((?:\s*\.\s*{IDENT}|\s*\[[^\]]*\])*)")
ATTR = re.compile(rf"\.\s*({IDENT})|\[\s*\"([^\"]*)\"\s*\]|\[[^\]]*\]")
FOR_VARS = re.compile(rf"\bfor\s+({IDENT})(?:\s*,\s*({IDENT}))?\s+in\b")
KEYWORDS = {"for", "in", "if", "true", "false", "null", "endfor", "endif", "else"}


@dataclass(frozen=True)
class Finding:
    """One problem, with the rule it breaks so tests can ask for a specific rule."""

    rule: str
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: [{self.rule}] {self.message}"


@dataclass
class Ref:
    kind: str  # var | local | data | module | resource
    key: tuple[str, ...]
    file: str
    owner: tuple[str, ...]  # the block the reference sits in, e.g. ("variable", "x")


def expression_segments(text: str) -> list[str]:
    """Return the expression parts of a serialised HCL value, without string literals.

    The serialised value is template text: literal characters with `${ ... }` interpolations.
    Inside an interpolation, quoted strings are templates again, so the walk keeps a stack of
    modes (template or expression) to get nesting and escapes right.
    """
    out: list[str] = []
    current: list[str] = []
    stack = ["template"]  # top-level value is template text
    depth: list[int] = []  # brace depth per open expression
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        mode = stack[-1]
        if mode == "template":
            if c == "\\" and i + 1 < n:
                i += 2
                continue
            if text.startswith("$${", i):  # escaped interpolation: literal text
                i += 3
                continue
            if text.startswith("${", i) or text.startswith("%{", i):
                stack.append("expr")
                depth.append(0)
                current.append(" ")
                i += 2
                continue
            if c == '"' and len(stack) > 1:  # closes a string opened inside an expression
                stack.pop()
                i += 1
                continue
            i += 1
            continue
        # expression mode
        if c == '"':
            stack.append("template")
            current.append(" ")
            i += 1
            continue
        if c == "{":
            depth[-1] += 1
        elif c == "}":
            if depth[-1] == 0:
                stack.pop()
                depth.pop()
                current.append(" ")
                if len(stack) == 1:
                    out.append("".join(current))
                    current = []
                i += 1
                continue
            depth[-1] -= 1
        current.append(c)
        i += 1
    if current:
        out.append("".join(current))
    return out


def iter_strings(node, path=()):
    """Yield (path, string) for every string value under a parsed block, skipping comments."""
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(k, str) and k.startswith("__"):
                continue
            yield from iter_strings(v, path + (k,))
    elif isinstance(node, list):
        for v in node:
            yield from iter_strings(v, path)
    elif isinstance(node, str):
        yield path, node


def dynamic_labels(node) -> set[str]:
    """Names that `dynamic "x"` blocks (or their `iterator`) bind inside a block."""
    names: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "dynamic":
                for entry in v if isinstance(v, list) else [v]:
                    for label, body in entry.items():
                        names.add(label)
                        if isinstance(body, dict) and isinstance(body.get("iterator"), str):
                            names.add(body["iterator"].strip("${}"))
            names |= dynamic_labels(v)
    elif isinstance(node, list):
        for v in node:
            names |= dynamic_labels(v)
    return names


def references_in(expr: str, provider_prefixes: tuple[str, ...], local_names: set[str]):
    """Yield (kind, key) for each reference in one expression segment."""
    bound = set(local_names)
    for m in FOR_VARS.finditer(expr):
        bound.update(x for x in m.groups() if x)
    for m in TRAVERSAL.finditer(expr):
        root, rest = m.group(1), m.group(2) or ""
        # A traversal directly followed by "(" is a function call such as jsonencode(...).
        tail = expr[m.end():].lstrip()
        if not rest and tail.startswith("("):
            continue
        if root in KEYWORDS or root in BUILTINS or root in bound:
            continue
        parts = []
        for a in ATTR.finditer(rest):
            if a.group(1):
                parts.append(a.group(1))
            elif a.group(2) is not None:
                parts.append(a.group(2))
            else:
                parts.append(None)  # numeric or computed index
        names = [p for p in parts]
        if root == "var" and names and names[0]:
            yield "var", (names[0],)
        elif root == "local" and names and names[0]:
            yield "local", (names[0],)
        elif root == "module" and names and names[0]:
            yield "module", (names[0],)
        elif root == "data" and len(names) >= 2 and names[0] and names[1]:
            yield "data", (names[0], names[1])
        elif root.startswith(provider_prefixes) and names and names[0]:
            yield "resource", (root, names[0])


class Module:
    """The declarations and references of one directory of *.tf files."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.findings: list[Finding] = []
        self.variables: dict[str, tuple[str, dict]] = {}
        self.locals: dict[str, str] = {}
        self.resources: set[tuple[str, str]] = set()
        self.data: set[tuple[str, str]] = set()
        self.modules: set[str] = set()
        self.providers: set[str] = set()
        self.blocks: list[tuple[str, tuple[str, ...], object]] = []
        self._load()

    def _load(self) -> None:
        files = sorted(self.dir.glob("*.tf"))
        if not files:
            self.findings.append(Finding("parse", str(self.dir), "no .tf files found"))
        for path in files:
            rel = path.name
            try:
                with path.open(encoding="utf-8") as fh:
                    doc = hcl2.load(fh, serialization_options=OPTIONS)
            except Exception as exc:  # python-hcl2 raises lark errors of several types
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.findings.append(Finding("parse", rel, f"does not parse as HCL: {first}"))
                continue
            self._collect(rel, doc)

    def _collect(self, rel: str, doc: dict) -> None:
        for entry in doc.get("variable", []):
            for name, body in entry.items():
                self.variables[name] = (rel, body if isinstance(body, dict) else {})
                self.blocks.append((rel, ("variable", name), body))
        for entry in doc.get("locals", []):
            for name, value in entry.items():
                if name.startswith("__"):
                    continue
                self.locals[name] = rel
                self.blocks.append((rel, ("local", name), value))
        for kind, store in (("resource", self.resources), ("data", self.data)):
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    for rname, body in named.items():
                        store.add((rtype, rname))
                        self.blocks.append((rel, (kind, rtype, rname), body))
        for entry in doc.get("module", []):
            for name, body in entry.items():
                self.modules.add(name)
                self.blocks.append((rel, ("module", name), body))
        for entry in doc.get("terraform", []):
            for req in entry.get("required_providers", []):
                self.providers.update(k for k in req if not k.startswith("__"))
            self.blocks.append((rel, ("terraform",), entry))
        for kind in ("output", "provider", "check", "moved", "import", "removed"):
            for entry in doc.get(kind, []):
                if isinstance(entry, dict):
                    for name, body in entry.items():
                        self.blocks.append((rel, (kind, name), body))
                        if kind == "provider":
                            self.providers.add(name)

    def references(self) -> list[Ref]:
        # Resource types start with their provider's local name; terraform_data is built in.
        prefixes = tuple(sorted(f"{p}_" for p in self.providers | {"terraform"}))
        refs: list[Ref] = []
        for rel, owner, body in self.blocks:
            bound = dynamic_labels(body)
            for _path, text in iter_strings(body):
                for segment in expression_segments(text):
                    for kind, key in references_in(segment, prefixes, bound):
                        refs.append(Ref(kind, key, rel, owner))
        return refs

    def check(self) -> list[Finding]:
        findings = list(self.findings)
        refs = self.references()
        declared = {
            "var": {(n,) for n in self.variables},
            "local": {(n,) for n in self.locals},
            "module": {(n,) for n in self.modules},
            "data": self.data,
            "resource": self.resources,
        }
        for ref in refs:
            if ref.key not in declared[ref.kind]:
                shown = {
                    "var": "var.{}",
                    "local": "local.{}",
                    "module": "module.{}",
                    "data": "data.{}.{}",
                    "resource": "{}.{}",
                }[ref.kind].format(*ref.key)
                what = {"var": "variable", "local": "local value", "module": "module",
                        "data": "data source", "resource": "resource"}[ref.kind]
                findings.append(Finding(
                    f"undefined-{ref.kind}", ref.file,
                    f"{shown} in {' '.join(ref.owner)} refers to no declared {what}"))

        # A variable only read by its own validation is still unused.
        used_vars = {r.key[0] for r in refs if r.kind == "var" and r.owner != ("variable", r.key[0])}
        used_locals = {r.key[0] for r in refs if r.kind == "local" and r.owner != ("local", r.key[0])}
        for name, (rel, body) in sorted(self.variables.items()):
            if name not in used_vars:
                findings.append(Finding("unused-variable", rel, f"variable \"{name}\" is declared but never used"))
            if "type" not in body:
                findings.append(Finding("variable-type", rel, f"variable \"{name}\" has no type; add type = ..."))
            desc = body.get("description")
            if not isinstance(desc, str) or not desc.strip():
                findings.append(Finding("variable-description", rel,
                                        f"variable \"{name}\" has no description; add a non-empty description"))
        for name, rel in sorted(self.locals.items()):
            if name not in used_locals:
                findings.append(Finding("unused-local", rel, f"local \"{name}\" is declared but never used"))
        return findings


def check_directory(directory: str | Path) -> list[Finding]:
    return Module(Path(directory)).check()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: tfcheck.py DIR", file=sys.stderr)
        return 2
    findings = check_directory(argv[1])
    for f in findings:
        print(f)
    if findings:
        print(f"tfcheck: {len(findings)} finding(s) in {argv[1]}", file=sys.stderr)
        return 1
    print(f"tfcheck: {argv[1]}: every file parses, every reference resolves, every variable is typed, described and used")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
