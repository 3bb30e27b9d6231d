"""`python -m tests.bench`: every benchmark, core, Postgres, sync, track uploads, then TUI
(options such as `--sessions` go to the core and Postgres ones; the sync and upload ones run
with their own defaults and take only `--json`)."""

from __future__ import annotations

import sys

from tests.bench import core_bench, pg_bench, r2_bench, sync_bench, tui_bench

if __name__ == "__main__":
    argv = sys.argv[1:]
    code = core_bench.main(argv) or pg_bench.main(argv)
    code = code or sync_bench.main([a for a in argv if a == "--json"])
    code = code or r2_bench.main([a for a in argv if a == "--json"])
    sys.exit(code or tui_bench.main([]))
