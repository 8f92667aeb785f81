"""The analysis as functions: `report` (one run, or several generators' folders merged) and
`compare` (two runs side by side), each writing report.md, report.html and report.json (compare:
compare.json) and returning the folder it wrote. Bad folders raise RunError; bad judging options
raise ValueError with what is allowed. `python -m loadtests.analysis` is their command line, and
Python callers (the local platform, the studies) call them directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .analyse import criteria_for
from .metrics import Criteria
from .report import build_compare_runs, build_report
from .runs import Run, load_run


@dataclass(frozen=True)
class Judging:
    """How a run is judged; None takes the run's own value (SLO_P95, SLO_ERROR_RATE,
    MAX_CONCURRENCY), utilisation None is 1."""

    slo_ms: float | None = None
    error_rate: float | None = None
    recovery_seconds: int = 5
    max_concurrency: float | None = None
    utilisation: float | None = None

    def __post_init__(self) -> None:
        if self.recovery_seconds < 1:
            raise ValueError(f"--recovery-seconds must be at least 1, got {self.recovery_seconds}")
        if self.error_rate is not None and not 0 <= self.error_rate <= 1:
            raise ValueError(f"--error-threshold is a share between 0 and 1, got {self.error_rate}")
        if self.max_concurrency is not None and self.max_concurrency <= 0:
            raise ValueError(f"--max-concurrency must be above 0, got {self.max_concurrency}")
        if self.utilisation is not None and not 0 < self.utilisation <= 1:
            raise ValueError(
                f"--target-utilisation is a share above 0 and at most 1, got {self.utilisation}"
            )

    def criteria(self, run: Run) -> Criteria:
        return criteria_for(
            run,
            slo_ms=self.slo_ms,
            error_rate=self.error_rate,
            seconds=self.recovery_seconds,
            max_concurrency=self.max_concurrency,
            utilisation=self.utilisation,
        )


def report(runs: list[Path], out: Path | None = None, judging: Judging | None = None) -> Path:
    """Report one run into `out` (default: the folder itself, or `<first>-merged` for several)."""
    judging = judging or Judging()
    run = load_run(runs)
    out = out or (runs[0] if len(runs) == 1 else runs[0].with_name(runs[0].name + "-merged"))
    build_report(run, out, judging.criteria(run))
    return out


def compare(
    a: Path, b: Path, *more: Path, out: Path | None = None, judging: Judging | None = None
) -> Path:
    """Compare runs into `out` (default: `<A>-vs-<B name>[-vs-…]` beside A), A the baseline."""
    judging = judging or Judging()
    folders = [a, b, *more]
    runs = [load_run([f], label=f.name) for f in folders]
    out = out or a.with_name("-vs-".join(f.name for f in folders))
    build_compare_runs(runs, out, judging.criteria)
    return out
