"""`python -m tests.bench`: every benchmark, core then TUI (options go to the core one)."""

from __future__ import annotations

import sys

from tests.bench import core_bench, tui_bench

if __name__ == "__main__":
    code = core_bench.main(sys.argv[1:])
    sys.exit(code or tui_bench.main([]))
