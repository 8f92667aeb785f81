#!/usr/bin/env python3
"""Import circles between the modules of a Rust crate, found from its source text.

`make check` runs it on `src/` so the service's dependencies keep pointing one way (flags →
config → components): a module may use another only if that one does not, through any chain,
use it back. It stands in for `cargo modules dependencies --lib --acyclic`, which compiles
rust-analyzer's crates first (ARCHITECTURE.md, "Written by hand where a library exists").

What counts as a use of module M by module N: any path in N's code, outside `#[cfg(test)]`
items, comments and literals, that names M or something inside it: `use crate::m::…` (use trees
expanded), `crate::m::f(…)` in an expression or a type, `super::`/`self::` paths, and paths that
start with the name of one of N's child modules. A path is attributed to the deepest module it
names (`crate::relay::plan::Hop` → `relay::plan`); an item re-exported by a module counts as
that module's (stricter than following the re-export). A module's `mod` declarations are
ownership, not use. Nodes are modules (one per file, inline non-test modules folded into their
file); self-uses are ignored.

    modcycles.py [SRC]      check the crate rooted at SRC/lib.rs (default: src); exit 1 and
                            name every circle, with the line of each use, if there is one
    modcycles.py --edges    print every use edge instead (module -> module  file:line)
"""

from __future__ import annotations

import itertools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

Module = tuple[str, ...]  # () is the crate root

_CHAR = re.compile(r"b?'(?:[^'\\\n]|\\(?:[nrt\\0'\"]|x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}))'")
_RAW_STRING = re.compile(r'b?r(#*)"')
_MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([A-Za-z_]\w*)\s*;", re.M)
_USE = re.compile(r"\buse\s+([^;]*);")
_PATH = re.compile(r"(?<![\w:$])([A-Za-z_]\w*(?:\s*::\s*[A-Za-z_]\w*)+)")
_CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]")


def blank(text: str) -> str:
    """The source with comments, strings and char literals turned into spaces (newlines kept)."""
    out: list[str] = []
    i, n = 0, len(text)

    def keep_lines(s: str) -> str:
        return "".join(c if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(keep_lines(text[i:j]))
            i = j
        elif (m := _RAW_STRING.match(text, i)) and (i == 0 or not text[i - 1].isalnum()):
            end = text.find('"' + m.group(1), m.end())
            j = n if end < 0 else end + 1 + len(m.group(1))
            out.append(keep_lines(text[i:j]))
            i = j
        elif c == '"' or (c == "b" and text.startswith('b"', i) and not text[i - 1 : i].isalnum()):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(keep_lines(text[i : j + 1]))
            i = j + 1
        elif c in "'b" and (m := _CHAR.match(text, i)) and not text[i - 1 : i].isalnum():
            out.append(" " * (m.end() - i))
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_cfg_test(code: str) -> str:
    """`code` (already blanked) without the items marked `#[cfg(test)]`."""
    while m := _CFG_TEST.search(code):
        i, depth = m.end(), 0
        while i < len(code):
            c = code[i]
            if c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth == 0 and c == "}":
                    i += 1
                    break
            elif c == ";" and depth == 0:
                i += 1
                break
            i += 1
        # An attribute (`#[…]`) before the item closes with `]` at depth 0 and is skipped with it.
        code = (
            code[: m.start()]
            + "".join(ch if ch == "\n" else " " for ch in code[m.start() : i])
            + code[i:]
        )
    return code


def expand_use_tree(tree: str) -> list[str]:
    """`a::{b, c::{d, self}, e as f}` → ["a::b", "a::c::d", "a::c", "a::e"]."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    return _expand("", tree)


def _expand(prefix: str, tree: str) -> list[str]:
    if "{" not in tree:
        path = prefix + tree
        path = re.sub(r"::(self|\*)$", "", path)
        return [path] if path and path != "self" else ([prefix.rstrip(":")] if prefix else [])
    head, _, rest = tree.partition("{")
    body = rest[: rest.rfind("}")]
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:k])
            start = k + 1
    parts.append(body[start:])
    out: list[str] = []
    for p in parts:
        if p:
            out.extend(_expand(prefix + head, p))
    return out


@dataclass
class Crate:
    src: Path
    files: dict[Module, Path] = field(default_factory=dict)
    children: dict[Module, set[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, src: Path) -> Crate:
        crate = cls(src)
        crate._add((), src / "lib.rs")
        return crate

    def _add(self, module: Module, path: Path) -> None:
        self.files[module] = path
        self.children[module] = set()
        code = drop_cfg_test(blank(path.read_text()))
        # lib.rs and mod.rs hold their children beside them; a.rs holds them in a/.
        folder = path.parent if path.name in ("lib.rs", "mod.rs") else path.with_suffix("")
        for name in _MOD_DECL.findall(code):
            child = folder / f"{name}.rs"
            if not child.exists():
                child = folder / name / "mod.rs"
            if not child.exists():
                raise SystemExit(f"{path}: `mod {name};` has no file ({folder / name}.rs)")
            self.children[module].add(name)
            self._add((*module, name), child)

    def resolve(self, module: Module, segments: list[str]) -> Module | None:
        """The deepest module a path used in `module` names, or None (another crate, a local)."""
        first, rest = segments[0], segments[1:]
        if first == "crate":
            base: Module = ()
        elif first == "self":
            base = module
        elif first == "super":
            base = module[:-1]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
        elif first in self.children[module]:
            base, rest = (*module, first), rest
        else:
            return None
        for seg in rest:
            if (*base, seg) not in self.files:
                break
            base = (*base, seg)
        return base

    def edges(self) -> dict[tuple[Module, Module], tuple[Path, int]]:
        """Every use edge, with the first place it is made."""
        found: dict[tuple[Module, Module], tuple[Path, int]] = {}
        for module, path in self.files.items():
            code = drop_cfg_test(blank(path.read_text()))
            paths: list[tuple[int, str]] = []
            for m in _USE.finditer(code):
                paths += [(m.start(), p) for p in expand_use_tree(m.group(1))]
            code_without_uses = _USE.sub(lambda m: " " * len(m.group(0)), code)
            paths += [(m.start(), m.group(1)) for m in _PATH.finditer(code_without_uses)]
            for offset, p in paths:
                segments = [s for s in re.split(r"\s*::\s*", p) if s]
                if not segments:
                    continue
                target = self.resolve(module, segments)
                if target is None or target == module:
                    continue
                line = code.count("\n", 0, offset) + 1
                found.setdefault((module, target), (path, line))
        return found


def name(module: Module) -> str:
    return "::".join(("crate", *module))


def circles(
    nodes: list[Module], edges: set[tuple[Module, Module]]
) -> list[tuple[list[Module], list[Module]]]:
    """Each strongly connected component of more than one module (Tarjan), with a shortest circle
    through its first module."""
    succ: dict[Module, list[Module]] = {n: [] for n in nodes}
    for a, b in sorted(edges):
        succ[a].append(b)
    index: dict[Module, int] = {}
    low: dict[Module, int] = {}
    stack: list[Module] = []
    on_stack: set[Module] = set()
    components: list[list[Module]] = []

    def connect(v: Module) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(nodes):
        if v not in index:
            connect(v)
    return [(c, _one_circle(c, succ)) for c in sorted(sorted(c) for c in components)]


def _one_circle(component: list[Module], succ: dict[Module, list[Module]]) -> list[Module]:
    """A shortest circle through the component's first module, as a list ending where it began."""
    members = set(component)
    start = component[0]
    came_from: dict[Module, Module] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in succ[v]:
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in came_from:
                    came_from[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected component has a circle")


def main(argv: list[str]) -> int:
    show_edges = "--edges" in argv
    args = [a for a in argv if a != "--edges"]
    src = Path(args[0]) if args else Path("src")
    crate = Crate.read(src)
    edges = crate.edges()
    if show_edges:
        for (a, b), (path, line) in sorted(edges.items()):
            print(f"{name(a)} -> {name(b)}  {path}:{line}")
        return 0
    found = circles(list(crate.files), set(edges))
    if not found:
        print(
            f"modcycles: {len(crate.files)} modules in {src}, {len(edges)} uses, no import circle"
        )
        return 0
    for component, circle in found:
        print("import circle: " + " -> ".join(name(m) for m in circle), file=sys.stderr)
        if len(component) > len(circle) - 1:
            print(
                "  (one of several among " + ", ".join(map(name, component)) + ")", file=sys.stderr
            )
        for a, b in itertools.pairwise(circle):
            path, line = edges[(a, b)]
            print(f"  {name(a)} uses {name(b)} at {path}:{line}", file=sys.stderr)
    print(
        f"modcycles: {len(found)} import circle(s) in {src}; make each use point one way "
        "(move the shared item into a module both may use)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
