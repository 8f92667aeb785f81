"""What the studies' command line does (`__main__.py` only parses its arguments): list the
studies, validate study files, run one. Each returns the exit status: 0 done, 2 a bad study file
or a missing prerequisite, 1 the study failed (the run folder keeps what it got), 124 out of
time, 130 interrupted; in every case everything the study started has been removed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from loadtests.core.faults import FaultSyntaxError
from loadtests.netlab.faults import Fault
from loadtests.netlab.faults import parse_faults as parse_network_faults

from .study import Study, StudyError, available, find


def _say(msg: str) -> None:
    print(f"study: {msg}", file=sys.stderr)


def parse_faults(study: Study, text: str) -> tuple[Fault, ...]:
    """STUDY_FAULTS against the study's hosts and links."""
    topo = study.topology()
    return parse_network_faults(
        text, study.hosts, lambda a, b: topo.link(a, b) is not None
    ) if text.strip() else ()  # fmt: skip


def list_studies() -> int:
    for name in available():
        s = find(name)
        print(f"{name:12} {s.title}: {s.question}")
    return 0


def check(names: Sequence[str]) -> int:
    """Validates the named studies (all by default); the first bad one exits 2 with its error."""
    try:
        for name in names or available():
            find(name)
            print(f"{name}: ok")
    except StudyError as e:
        _say(str(e))
        return 2
    return 0


def run(
    name: str,
    results: Path,
    short: bool,
    env: Mapping[str, str],
    variant: str | None = None,
    faults: str = "",
) -> int:
    """Runs one study with the tools `env` names (runner.Tools.from_env); prints where its
    report is and the report's table. `faults` (STUDY_FAULTS) are judged against the study's
    network before anything starts."""
    try:
        study = find(name)
        planned = parse_faults(study, faults)
    except (StudyError, FaultSyntaxError) as e:
        _say(str(e))
        return 2
    keys = [v.key for v in study.variants]
    if variant is not None and variant not in keys:
        _say(f"{study.name} has no variant {variant!r}; allowed: {', '.join(keys)}")
        return 2
    # Imported here so that listing and checking studies needs no netlab (nor root); root is
    # checked before the runner is imported, which needs the venv's packages (nobody's test).
    from loadtests.netlab import NetlabError, check_prerequisites

    try:
        check_prerequisites()
    except NetlabError as e:
        _say(str(e))
        return 2
    from .runner import OutOfTime, StudyFailed, Tools
    from .runner import run as run_study

    try:
        folder = run_study(
            study, results, short=short, tools=Tools.from_env(env), variant=variant, faults=planned
        )
    except NetlabError as e:
        _say(str(e))
        return 2
    except StudyFailed as e:
        _say(f"{study.name} failed: {e}")
        return 1
    except OutOfTime as e:
        _say(f"{study.name} stopped: {e}; everything it started was removed")
        return 124
    except KeyboardInterrupt:
        _say(f"{study.name} interrupted; everything it started was removed")
        return 130
    if variant is not None:
        print(f"study: {study.name} variant {variant} done: {folder}/{variant}")
        return 0
    print(f"study: {study.name} done: {folder}/compare.md (study.md says what to expect)")
    table = (folder / "compare.md").read_text()
    print(table.split("\n## ", 2)[1] if "\n## " in table else table)
    return 0
