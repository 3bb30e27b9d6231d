"""The commands that only read: status, statusline, history and stats.

`status` and `statusline` are mostly answered by `app.quick` before this module loads.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from app import cli_output as out
from app.cli.context import emit, with_store
from app.domain.models import Mode, Status
from app.presenters import ending_dict, session_dict, stats_dict

if TYPE_CHECKING:
    from app.bootstrap import Container


def status(args: argparse.Namespace) -> int:
    """status and statusline: the open session, or none. (The console script answers most of
    these before this module is even imported: see `app.quick`.)"""
    return _full_status(args)


@with_store(readonly=True)
async def _full_status(args: argparse.Namespace, app: Container) -> None:
    session = await app.service.status()
    now = app.clock.now()
    data: dict[str, Any] = {"session": session_dict(session, now) if session else None}
    told = ""
    if args.command == "status":  # never the status bar's line: it would tell no one
        ended = await app.service.last_ending_unseen()
        data["last_ending"] = ending_dict(ended, now, app.zone)
        told = f"{out.ending(ended, now, app.zone)}\n" if ended else ""
    if getattr(args, "json", False) and args.command == "status":
        synced = await app.repo.last_synced()
        data["pending_changes"] = await app.repo.pending_changes()
        data["last_sync_at"] = synced.isoformat() if synced else None
    if args.command == "statusline":
        emit(args, data, out.statusline(session, now))
    else:
        text = out.session_line(session, now, app.zone) if session else "No open session."
        emit(args, data, told + text)


@with_store(readonly=True)
async def history(args: argparse.Namespace, app: Container) -> None:
    page = await app.service.history(
        args.limit,
        args.before,
        tuple(Status(x) for x in args.status),
        tuple(Mode(x) for x in args.mode),
    )
    if args.status or args.mode:
        empty = out.NO_MATCH
    else:
        empty = out.NO_MORE if args.before else out.EMPTY_HISTORY
    text = out.history_table(page.sessions, app.zone, empty)
    if page.next_cursor:
        text += f"\nMore: {next_page_command(args, page.next_cursor)}"
    now = app.clock.now()
    data = {
        "sessions": [session_dict(s, now) for s in page.sessions],
        "next_cursor": page.next_cursor,
    }
    emit(args, data, text)


@with_store(readonly=True)
async def stats(args: argparse.Namespace, app: Container) -> None:
    st = await app.service.stats(args.days)
    emit(args, stats_dict(st), out.stats_text(st))


def next_page_command(args: argparse.Namespace, cursor: str) -> str:
    """The command that prints the next page of the same query: the cursor, and every
    option the page was asked with (filters, page size, database and config)."""
    import shlex

    words = ["focus", "history", "--before", cursor]
    if args.limit != 25:
        words += ["--limit", str(args.limit)]
    for status in args.status:
        words += ["--status", status]
    for mode in args.mode:
        words += ["--mode", mode]
    for option in ("db", "config"):
        value = getattr(args, option, None)
        if value:
            words += [f"--{option}", value]
    return shlex.join(words)
