"""Placeholder until the Textual app lands."""

from __future__ import annotations


def run_tui(config: str | None, db: str | None) -> int:
    import sys

    sys.stderr.write("focus: the Textual app is not built yet; see `focus --help`\n")
    return 1
