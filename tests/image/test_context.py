"""The Docker build context: .dockerignore is an allow-list, and the copy `make test` builds
from (scripts/image/context.py) follows the engine's matching rules.

The rule cases mirror how moby's patternmatcher treats them, so a divergence in the
stand-in shows up here rather than as a context that builds in tests but not in Docker.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scripts.image import context
from tests.image.conftest import ROOT


@pytest.mark.parametrize(
    "patterns,path,expected",
    [
        ("*", "Cargo.toml", True),
        ("*", "src/main.rs", True),  # `*` matches the directory `src`, so everything below it
        ("*\n!src/", "src/handlers/echo.rs", False),
        ("*\n!scripts/image/build-static.sh", "scripts/image/build-static.sh", False),
        ("*\n!scripts/image/build-static.sh", "scripts/image/sandbox.sh", True),
        ("target", "target/release/delay-echo", True),
        ("*.md", "docs/image.md", False),  # `*` does not cross `/`
        ("**/*.md", "docs/image.md", True),
        ("**/*.md", "README.md", True),
        ("src/*.rs", "src/main.rs", True),
        # Neither `src/handlers/echo.rs` nor its parent `src/handlers` matches `src/*.rs`.
        ("src/*.rs", "src/handlers/echo.rs", False),
        ("src/?.rs", "src/ab.rs", False),
        ("/Cargo.lock", "Cargo.lock", True),  # a leading slash is cleaned away
        ("*\n!src\nsrc/secret.rs", "src/secret.rs", True),  # the last matching pattern wins
    ],
)
def test_matching_rules(patterns: str, path: str, expected: bool) -> None:
    assert context.excluded(path, context.parse(patterns)) is expected


def test_dockerignore_is_an_allow_list() -> None:
    patterns = context.parse((ROOT / ".dockerignore").read_text())
    assert patterns[0].text == "*" and not patterns[0].exclusion, (
        "the first rule must leave everything out"
    )
    assert all(p.exclusion for p in patterns[1:]), (
        "after `*`, only `!` rules belong in an allow-list"
    )


def test_context_holds_what_the_build_needs_and_nothing_else() -> None:
    files = context.files(ROOT)
    for needed in (
        "Cargo.toml",
        "Cargo.lock",
        "src/main.rs",
        ".cargo/config.toml",
        "scripts/image/build-static.sh",
    ):
        assert needed in files, f"{needed} is missing from the build context"
    leaked = [
        f
        for f in files
        if f.split("/")[0] in {"target", ".git", ".venv", "tests", "infra", "loadtests", ".github"}
    ]
    assert not leaked, leaked


def test_every_cargo_target_source_is_in_the_context() -> None:
    # Source files of the binary and library (what `cargo build --bin delay-echo` compiles).
    meta = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    pkg = json.loads(meta.stdout)["packages"][0]
    files = set(context.files(ROOT))
    for target in pkg["targets"]:
        if {"bin", "lib", "custom-build"} & set(target["kind"]):
            rel = str(Path(target["src_path"]).relative_to(ROOT))
            assert rel in files, f"{rel} ({target['kind']}) is left out of the Docker build context"


def test_stage_mirrors_the_context(tmp_path) -> None:
    dest = tmp_path / "ctx"
    (dest / "stale").mkdir(parents=True)
    (dest / "stale" / "old.rs").write_text("left over")
    staged = context.stage(dest, ROOT)
    on_disk = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert on_disk == staged
    assert (dest / "Cargo.toml").read_bytes() == (ROOT / "Cargo.toml").read_bytes()
