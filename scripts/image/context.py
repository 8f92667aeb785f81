#!/usr/bin/env python3
"""The Docker build context, as .dockerignore makes it, without a Docker engine.

`make test` builds the image's binary from a copy of exactly the files `docker build` would
send, so a source file that the allow-list forgets fails here rather than first in CI. The
matching follows moby's patternmatcher (the engine's own .dockerignore rules): patterns are
cleaned paths, `*` and `?` stop at `/`, `**` spans directories, a pattern also matches every
path below a matching directory, `!` re-includes, and the last matching pattern wins.

    context.py list              print the context's files, one per line
    context.py stage DEST        mirror them into DEST (unchanged files keep their mtime,
                                 so cargo does not rebuild what did not change)
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool  # a `!` line: matching paths are put back into the context
    regex: re.Pattern[str]


def _translate(pattern: str) -> str:
    """Turn one cleaned .dockerignore pattern into an anchored regular expression."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                # `**/` may also match nothing, so `**/x` matches a top-level `x`.
                if pattern.startswith("/", i):
                    out.append("(?:.*/)?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                raise ValueError(f".dockerignore pattern {pattern!r}: '[' without ']'")
            # Go's filepath.Match negates a class with `^`; `/` never matches inside one.
            body = pattern[i + 1 : end]
            out.append("[" + body + "]")
            i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return "^" + "".join(out) + "$"


def parse(text: str) -> list[Pattern]:
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        cleaned = posixpath.normpath(line).lstrip("/")
        if cleaned in ("", "."):
            continue
        patterns.append(Pattern(cleaned, exclusion, re.compile(_translate(cleaned))))
    return patterns


def excluded(path: str, patterns: list[Pattern]) -> bool:
    """True when `path` (relative, `/`-separated) stays out of the build context."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    matched = False
    for p in patterns:
        # An include pattern cannot change an excluded path, nor an exclusion an included one.
        if p.exclusion != matched:
            continue
        if any(p.regex.match(c) for c in candidates):
            matched = not p.exclusion
    return matched


def _may_reinclude_below(directory: str, patterns: list[Pattern]) -> bool:
    """Whether some `!` pattern could put back a path under an excluded directory."""
    for p in patterns:
        if not p.exclusion:
            continue
        literal = re.split(r"[*?\[\\]", p.text, maxsplit=1)[0]
        if literal.startswith(directory + "/") or (directory + "/").startswith(literal):
            return True
    return False


def files(root: Path = ROOT) -> list[str]:
    ignore = root / ".dockerignore"
    patterns = parse(ignore.read_text()) if ignore.exists() else []
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        keep = []
        for d in sorted(dirnames):
            rel = f"{rel_dir}/{d}" if rel_dir else d
            # Pruning keeps the walk away from target/ and .git unless a `!` reaches inside.
            if not excluded(rel, patterns) or _may_reinclude_below(rel, patterns):
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if not excluded(rel, patterns):
                found.append(rel)
    return sorted(found)


def stage(dest: Path, root: Path = ROOT) -> list[str]:
    wanted = files(root)
    dest.mkdir(parents=True, exist_ok=True)
    for rel in wanted:
        src, dst = root / rel, dest / rel
        s = src.stat()
        if dst.exists():
            d = dst.stat()
            if d.st_size == s.st_size and int(d.st_mtime) == int(s.st_mtime):
                continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    keep = set(wanted)
    for dirpath, _dirnames, filenames in os.walk(dest, topdown=False):
        for f in filenames:
            rel = os.path.relpath(os.path.join(dirpath, f), dest).replace(os.sep, "/")
            if rel not in keep:
                os.remove(os.path.join(dirpath, f))
        if dirpath != str(dest) and not os.listdir(dirpath):
            os.rmdir(dirpath)
    return wanted


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[1] == "list":
        print("\n".join(files()))
        return 0
    if len(argv) == 3 and argv[1] == "stage":
        staged = stage(Path(argv[2]))
        print(f"staged {len(staged)} files of the Docker build context into {argv[2]}")
        return 0
    print("usage: context.py list | context.py stage DEST", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
