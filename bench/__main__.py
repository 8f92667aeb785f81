"""`python -m bench`: the benchmark's command line (bench/harness.py)."""

import sys

from bench.harness import main

sys.exit(main())
