"""`python -m tests.bench`: every benchmark, core, Postgres, then TUI (options such as
`--sessions` go to the core and Postgres ones)."""

from __future__ import annotations

import sys

from tests.bench import core_bench, pg_bench, tui_bench

if __name__ == "__main__":
    code = core_bench.main(sys.argv[1:]) or pg_bench.main(sys.argv[1:])
    sys.exit(code or tui_bench.main([]))
