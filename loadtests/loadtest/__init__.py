"""Run one load profile against a target into a run folder (`delay-echo-loadtest`, `make
loadtest`): the settings and their refusals (`settings.py`), k6 and what it leaves in the folder
(`k6run.py`); `TOOL=locust` hands the same profile to loadtests/locust.
"""

from .k6run import run
from .settings import Settings, UsageError, from_flags

__all__ = ["Settings", "UsageError", "from_flags", "run"]
