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

from app.cli.context import Handler, OutputError, say
from app.cli.parser import build_parser
from app.domain.errors import FocusError, UsageError

__all__ = ["build_parser", "main"]

COMMANDS: dict[str, str] = {
    "start": "sessions.start",
    "pause": "sessions.pause",
    "resume": "sessions.resume",
    "extend": "sessions.extend",
    "complete": "sessions.complete",
    "abandon": "sessions.abandon",
    "edit": "sessions.edit",
    "status": "reading.status",
    "statusline": "reading.status",
    "history": "reading.history",
    "stats": "reading.stats",
    "export": "export.export",
    "demo": "admin.demo",
    "config": "admin.config",
    "db": "admin.db",
    "server": "server.server",
    "sync": "sync.sync",
    "libraries": "tracks.libraries",
    "tracks": "tracks.tracks",
}
"""Each command name and its handler (`module.function` in app.cli), imported when run."""


def handler_for(command: str) -> Handler:
    import importlib

    module, name = COMMANDS[command].split(".")
    found: Handler = getattr(importlib.import_module(f"app.cli.{module}"), name)
    return found


def _open_tui(args: argparse.Namespace) -> int:
    from app.tui.app import run_tui

    return run_tui(getattr(args, "config", None), getattr(args, "db", None))


def main(argv: Sequence[str] | None = None) -> int:
    code = _dispatch(argv)
    try:
        if sys.stdout is not None:
            sys.stdout.flush()  # buffered output fails here, not at exit with a traceback
    except OSError as exc:
        _discard_stdout()
        if code == 0:
            if not isinstance(exc, BrokenPipeError):
                say(f"cannot write the output: {exc.strerror or exc}")
            code = 1
    return code


def _dispatch(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if sys.stdout is None:
            raise UsageError("standard output is closed")
        if args.command is None:
            return _open_tui(args)
        return handler_for(args.command)(args)
    except BrokenPipeError:  # the reader went away (`focus history | head -1`): say nothing
        _discard_stdout()
        return 1
    except FocusError as exc:
        if isinstance(exc, OutputError):
            _discard_stdout()
        say(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception as exc:
        if os.environ.get("FOCUS_DEBUG"):
            return _traceback(exc)
        return _unexpected(exc)


def _traceback(exc: Exception) -> int:
    """FOCUS_DEBUG=1: the whole traceback, with the secrets this run was given masked."""
    import traceback

    from app.config import scrub

    if sys.stderr is not None:
        sys.stderr.write(scrub("".join(traceback.format_exception(exc))))
    return 1


def _discard_stdout() -> None:
    """Point standard output at /dev/null, so what is still buffered is dropped at exit."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (a test's capture): nothing is flushed to a descriptor
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _unexpected(exc: Exception) -> int:
    if isinstance(exc, OSError):  # a file the store or a handler could not use
        where = f": {os.fsdecode(exc.filename)}" if exc.filename else ""
        say(f"{exc.strerror or exc}{where}")
        return 2
    from app.config import scrub

    text = scrub(f"{type(exc).__name__}: {exc}")
    say(f"unexpected error: {text} (set FOCUS_DEBUG=1 for a traceback)")
    return 1
