"""pytest set-up for the benchmark harness tests: the harness modules live in bench/ as scripts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
