"""What every command handler shares: printing its result and running over a bootstrapped store.

Nothing heavy is imported here at module level: `focus statusline` runs every second from
tmux, and asyncio, SQLAlchemy and the services are loaded only by the commands that use them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from app.domain.errors import FocusError
from app.textsafe import visible

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.hooks import HookResult

Handler = Callable[[argparse.Namespace], int]
"""A command: the parsed options in, the exit status out."""
StoreHandler = Callable[[argparse.Namespace, "Container"], Awaitable[None]]
"""A command body that runs with the app built by `bootstrap`, inside one event loop."""


class OutputError(FocusError):
    """Standard output could not be written (a full disk, an I/O error); exit status 1."""

    title = "Output"


def write_stdout(text: str) -> None:
    """Write to standard output; a failure is one OutputError, a broken pipe stays itself."""
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write the output: {exc.strerror or exc}") from None


def say(message: str) -> None:
    """One line on stderr, safe for the terminal (messages quote paths and user input)."""
    if sys.stderr is not None:
        sys.stderr.write(f"focus: {visible(message)}\n")


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    """`data` as JSON with `--json`, else `text` (nothing when it is empty).

    JSON escapes every control character itself; the text is passed through `visible` line
    by line, so no path or title in it can drive the terminal.
    """
    if getattr(args, "json", False):
        write_stdout(json.dumps(data, indent=2) + "\n")
    elif text:
        write_stdout("\n".join(visible(line) for line in text.split("\n")) + "\n")


def hook_warning(result: HookResult) -> None:
    say(f"warning: {result.describe()}")


def _report_reads(args: argparse.Namespace, app: Container) -> None:
    """Notes (no database yet) and rows that could not be read, as one line each on stderr;
    a status bar's line stays clean."""
    if args.command == "statusline":
        return
    for note in app.notes:
        say(f"note: {note}")
    skipped = app.repo.skipped.ids
    if skipped:
        shown = ", ".join(skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        say(
            f"warning: skipped {len(skipped)} damaged session row{'s' if len(skipped) > 1 else ''}"
            f" ({shown}); the others are complete"
        )


def _needs_event_loop(args: argparse.Namespace, readonly: bool) -> bool:
    """Whether this run may suspend: a hook to run (a subprocess), or a database to create or
    upgrade (Alembic on SQLAlchemy's async engine). Otherwise every await in the flow is on
    the inline SQLite store, which never suspends."""
    from app.bootstrap import load
    from app.hooks import EVENTS
    from storage.migrations import HEAD
    from storage.sqlite import inspect_file

    try:
        settings, _, db_path = load(getattr(args, "config", None), getattr(args, "db", None))
        if settings.storage.url is not None or any(
            getattr(settings.hooks, event) for event in EVENTS
        ):
            return True  # a server to talk to, or a hook to run
        revision = inspect_file(db_path)
    except FocusError:
        return True  # bootstrap reports it, the same way on either path
    return revision != HEAD and not (readonly and revision is None)


def _drive(flow: Coroutine[Any, Any, None]) -> None:
    """Run a flow that never suspends without an event loop: importing and starting asyncio
    would cost a key-bound `focus pause` more than everything else it does."""
    try:
        flow.send(None)
    except StopIteration:
        return
    flow.close()
    raise RuntimeError("a flow suspended without an event loop")


def with_store(*, readonly: bool, network: bool = False) -> Callable[[StoreHandler], Handler]:
    """Turn an async body into a command: bootstrap (read-only or not), run it, close.
    `network`: the body talks to a server (always in an event loop)."""

    def wrap(body: StoreHandler) -> Handler:
        async def run(args: argparse.Namespace) -> None:
            from app.bootstrap import bootstrap

            app = await bootstrap(
                getattr(args, "config", None),
                getattr(args, "db", None),
                on_hook_failure=hook_warning,
                readonly=readonly,
            )
            try:
                await body(args, app)
                _report_reads(args, app)
            finally:
                await app.close()

        def handler(args: argparse.Namespace) -> int:
            if network or _needs_event_loop(args, readonly):
                import asyncio

                asyncio.run(run(args))
            else:
                _drive(run(args))
            return 0

        handler.__doc__ = body.__doc__
        return handler

    return wrap
