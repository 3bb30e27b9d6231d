"""The `focus` command: headless flows for scripts; no command opens the Textual app.

Exit codes: 0 ok, 1 the operation was refused, 2 bad usage, bad config or unusable database.
Expected failures print one line to stderr, never a traceback (set FOCUS_DEBUG=1 for one).
This module is loaded on every run (tmux calls `focus statusline` every second), so it and
the handler modules import only argparse and small modules of ours; the rest is imported by
the handlers that need it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from app.cli import admin, reading, sessions
from app.cli.context import Handler
from app.cli.export import export
from app.cli.parser import build_parser
from app.domain.errors import FocusError, StorageError

__all__ = ["build_parser", "main"]

COMMANDS: dict[str, Handler] = {
    "start": sessions.start,
    "pause": sessions.pause,
    "resume": sessions.resume,
    "extend": sessions.extend,
    "complete": sessions.complete,
    "abandon": sessions.abandon,
    "status": reading.status,
    "statusline": reading.status,
    "history": reading.history,
    "stats": reading.stats,
    "export": export,
    "demo": admin.demo,
    "config": admin.config,
    "db": admin.db,
}
"""Each command name and the handler that runs it."""


def _open_tui(args: argparse.Namespace) -> int:
    from app.tui.app import run_tui

    return run_tui(getattr(args, "config", None), getattr(args, "db", None))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            return _open_tui(args)
        return COMMANDS[args.command](args)
    except FocusError as exc:
        sys.stderr.write(f"focus: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("focus: interrupted\n")
        return 130
    except Exception as exc:
        if os.environ.get("FOCUS_DEBUG"):
            raise
        return _unexpected(exc)


def _unexpected(exc: Exception) -> int:
    from sqlalchemy.exc import OperationalError

    if isinstance(exc, OperationalError) and "locked" in str(exc.orig):
        sys.stderr.write("focus: the database is busy (locked by another process); try again\n")
        return 1
    if isinstance(exc, OperationalError | OSError):
        err = StorageError(f"database error: {getattr(exc, 'orig', None) or exc}")
        sys.stderr.write(f"focus: {err.message}\n")
        return err.exit_code
    sys.stderr.write(
        f"focus: unexpected error: {type(exc).__name__}: {exc} "
        "(set FOCUS_DEBUG=1 for a traceback)\n"
    )
    return 1
