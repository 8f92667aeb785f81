"""One directory of Terraform, parsed: its declarations, blocks and the references between them.

Shared by the offline checkers (conventions; schemacheck: references and the
provider schema), for machines without terraform or AWS access; it needs only python-hcl2.

References are found by walking the expression text that python-hcl2 serialises as `${...}`,
skipping string literals inside expressions (so `jsonencode({A = "aws_x.y"})` is not a reference)
and following nested templates. Names introduced by `dynamic` blocks, `for` expressions and the
built-in objects (count, each, path, self, terraform) are not references to declarations.
Files are parsed with explicit blocks (`__is_block__` marks `name { ... }` as opposed to
`name = { ... }`), which the schema checker needs to tell a block from an argument.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

# The plain form (blocks as lists of dicts) that the contract tests read; the checkers parse with
# explicit blocks.
OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
EXPLICIT = SerializationOptions(strip_string_quotes=True, explicit_blocks=True)

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
    attrs: tuple[str | None, ...] = ()  # what follows the name: attribute names, None per index


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
            yield from iter_strings(v, (*path, k))
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


def traversals_in(expr: str, provider_prefixes: tuple[str, ...], local_names: set[str]):
    """Yield (kind, key, attrs) for each reference in one expression segment.

    `attrs` is what follows the referenced name: attribute names, and None for each index
    (`[0]`, `[*]`, `["key"]`), e.g. `aws_x.y[0].z` gives ("resource", ("aws_x", "y"), (None, "z")).
    """
    bound = set(local_names)
    for m in FOR_VARS.finditer(expr):
        bound.update(x for x in m.groups() if x)
    for m in TRAVERSAL.finditer(expr):
        root, rest = m.group(1), m.group(2) or ""
        # A traversal directly followed by "(" is a function call such as jsonencode(...).
        tail = expr[m.end() :].lstrip()
        if not rest and tail.startswith("("):
            continue
        if root in KEYWORDS or root in BUILTINS or root in bound:
            continue
        parts: list[str | None] = [a.group(1) or None for a in ATTR.finditer(rest)]
        if root in ("var", "local", "module") and parts and parts[0]:
            yield root, (parts[0],), tuple(parts[1:])
        elif root == "data" and len(parts) >= 2 and parts[0] and parts[1]:
            yield "data", (parts[0], parts[1]), tuple(parts[2:])
        elif root.startswith(provider_prefixes) and parts and parts[0]:
            yield "resource", (root, parts[0]), tuple(parts[1:])


def references_in(expr: str, provider_prefixes: tuple[str, ...], local_names: set[str]):
    """Yield (kind, key) for each reference in one expression segment."""
    for kind, key, _attrs in traversals_in(expr, provider_prefixes, local_names):
        yield kind, key


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
        self.docs: list[tuple[str, dict]] = []  # (file name, parsed file with explicit blocks)
        self._load()

    def _load(self) -> None:
        files = sorted(self.dir.glob("*.tf"))
        if not files:
            self.findings.append(Finding("parse", str(self.dir), "no .tf files found"))
        for path in files:
            rel = path.name
            try:
                with path.open(encoding="utf-8") as fh:
                    doc = hcl2.load(fh, serialization_options=EXPLICIT)
            except Exception as exc:  # python-hcl2 raises lark errors of several types
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.findings.append(Finding("parse", rel, f"does not parse as HCL: {first}"))
                continue
            self.docs.append((rel, doc))
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
                    for kind, key, attrs in traversals_in(segment, prefixes, bound):
                        refs.append(Ref(kind, key, rel, owner, attrs))
        return refs
