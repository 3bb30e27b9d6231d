"""`python -m tests.bench`: every benchmark, core then TUI."""

from __future__ import annotations

import sys

from tests.bench.core_bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
