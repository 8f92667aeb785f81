"""Durations as the lab writes them (`1m30s`, `250ms`, `1.5s`, `0`): the Go form k6 resolves its
options to, which is also delay-echo's. One parser for the analysis, the local platform and the
locust runner; each wraps its ValueError in its own error type with what it expects there.
"""

from __future__ import annotations

import re

UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|min|s|m|h)")


def seconds(text: str) -> float:
    """Seconds from a duration such as `1m30s`, `250ms` or `0`; ValueError for anything else."""
    s = text.strip()
    if s == "0":
        return 0.0
    total, pos = 0.0, 0
    for m in _PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"{text!r} is not a duration")
    return total
