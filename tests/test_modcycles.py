"""scripts/modcycles.py: the import-circle check on the service's modules (`make check-modules`)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from scripts import modcycles

SRC = Path(__file__).resolve().parents[1] / "src"


def crate(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return src


def test_the_service_has_no_import_circle(capsys: pytest.CaptureFixture[str]) -> None:
    assert modcycles.main([str(SRC)]) == 0
    assert "no import circle" in capsys.readouterr().out


def test_a_circle_planted_in_the_service_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    shutil.copytree(SRC, src)
    # `app` holds the timer; a timer that reached back for the app closes a circle.
    with (src / "timer.rs").open("a") as f:
        f.write(
            "\npub fn planted(app: &crate::app::App) -> bool {\n    app.readiness.is_ready()\n}\n"
        )
    assert modcycles.main([str(src)]) == 1
    err = capsys.readouterr().err
    assert "import circle: crate::app -> crate::timer -> crate::app" in err
    assert f"crate::timer uses crate::app at {src / 'timer.rs'}:" in err


def test_a_circle_through_three_modules_is_named_with_each_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = crate(
        tmp_path,
        {
            "lib.rs": "pub mod a;\npub mod b;\npub mod c;\n",
            "a.rs": "use crate::b::B;\npub struct A(B);\n",
            "b.rs": "pub struct B;\nimpl B {\n    pub fn c() -> usize { crate::c::C }\n}\n",
            "c.rs": "pub const C: usize = 1;\n\npub fn a(_: &super::a::A) {}\n",
        },
    )
    assert modcycles.main([str(src)]) == 1
    err = capsys.readouterr().err
    assert "import circle: crate::a -> crate::b -> crate::c -> crate::a" in err
    assert f"crate::a uses crate::b at {src / 'a.rs'}:1" in err
    assert f"crate::b uses crate::c at {src / 'b.rs'}:3" in err
    assert f"crate::c uses crate::a at {src / 'c.rs'}:3" in err


def test_comments_strings_tests_and_mod_declarations_are_not_uses(tmp_path: Path) -> None:
    src = crate(
        tmp_path,
        {
            "lib.rs": "pub mod a;\npub mod b;\n",
            "a.rs": "use crate::b;\npub fn f() -> usize { b::g() }\n",
            "b.rs": """\
                //! Called from `crate::a::f` (a doc comment is not a use).
                /* nor is crate::a::f in a /* nested */ block comment */
                pub fn g() -> usize {
                    let s = "crate::a::f";
                    let r = r#"crate::a::f "quoted""#;
                    let c = '"';
                    let l: &'static str = "x";
                    s.len() + r.len() + l.len() + (c as usize)
                }

                #[cfg(test)]
                mod tests {
                    use crate::a::f;
                    #[test]
                    fn calls() { assert_eq!(f(), 1); }
                }
            """,
        },
    )
    assert modcycles.main([str(src)]) == 0


def test_use_trees_super_self_and_child_paths_resolve_to_the_deepest_module(tmp_path: Path) -> None:
    src = crate(
        tmp_path,
        {
            "lib.rs": "pub mod net;\npub mod app;\npub use app::App;\n",
            "app.rs": "use crate::{net::{self, peers::Peer as P}};\npub struct App(P);\n",
            "net/mod.rs": "pub mod peers;\nmod plan;\npub use plan::Hop;\n",
            "net/peers.rs": "pub struct Peer;\n",
            "net/plan.rs": "use super::peers::Peer;\npub struct Hop(Peer, self::Local);\nstruct Local;\n",
        },
    )
    edges = modcycles.Crate.read(src).edges()
    assert set(edges) == {
        ((), ("app",)),
        (("app",), ("net",)),
        (("app",), ("net", "peers")),
        (("net",), ("net", "plan")),
        (("net", "plan"), ("net", "peers")),
    }


def test_a_child_that_uses_its_parent_back_is_a_circle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = crate(
        tmp_path,
        {
            "lib.rs": "pub mod relay;\n",
            "relay.rs": "mod plan;\npub use plan::Hop;\npub struct Peer;\n",
            "relay/plan.rs": "pub struct Hop(super::Peer);\n",
        },
    )
    assert modcycles.main([str(src)]) == 1
    assert "crate::relay -> crate::relay::plan -> crate::relay" in capsys.readouterr().err


def test_a_missing_module_file_is_an_error(tmp_path: Path) -> None:
    src = crate(tmp_path, {"lib.rs": "mod gone;\n"})
    with pytest.raises(SystemExit, match="`mod gone;` has no file"):
        modcycles.main([str(src)])
