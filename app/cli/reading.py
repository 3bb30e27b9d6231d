"""The commands that only read: status, statusline, history and stats.

`status` and `statusline` first try a quick read with the standard `sqlite3` module (no
SQLAlchemy, no event loop) and fall back to the full store only when that cannot answer.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from app import cli_output as out
from app.cli.context import emit, with_store
from app.domain.models import Mode, Status
from app.presenters import session_dict, stats_dict

if TYPE_CHECKING:
    from app.bootstrap import Container


def status(args: argparse.Namespace) -> int:
    """status and statusline: the open session, or none."""
    return 0 if _quick_status(args) else _full_status(args)


def _quick_status(args: argparse.Namespace) -> bool:
    """Answer status/statusline without SQLAlchemy when nothing needs writing."""
    from datetime import timedelta

    from app.clock import SystemClock
    from app.config import load_settings, resolve_db_path, resolve_timezone
    from app.domain import timer
    from storage.peek import PeekUnavailable, peek_open_session

    settings, _ = load_settings(getattr(args, "config", None))
    path = resolve_db_path(settings, getattr(args, "db", None))
    try:
        session = peek_open_session(path)
    except PeekUnavailable:
        return False
    now = SystemClock().now()
    max_pause = timedelta(minutes=settings.timer.max_pause_minutes)
    if session is not None and timer.settle(session, now, max_pause) is not session:
        return False  # it ran out or expired: the full path settles and stores that
    data = {"session": session_dict(session, now) if session else None}
    if args.command == "statusline":
        emit(args, data, out.statusline(session, now))
    else:
        zone = resolve_timezone(settings)
        emit(args, data, out.session_line(session, now, zone) if session else "No open session.")
    return True


@with_store(readonly=True)
async def _full_status(args: argparse.Namespace, app: Container) -> None:
    session = await app.service.status()
    now = app.clock.now()
    data = {"session": session_dict(session, now) if session else None}
    if args.command == "statusline":
        emit(args, data, out.statusline(session, now))
    else:
        text = out.session_line(session, now, app.zone) if session else "No open session."
        emit(args, data, text)


@with_store(readonly=True)
async def history(args: argparse.Namespace, app: Container) -> None:
    page = await app.service.history(
        args.limit,
        args.before,
        tuple(Status(x) for x in args.status),
        tuple(Mode(x) for x in args.mode),
    )
    text = out.history_table(page.sessions, app.zone)
    if page.next_cursor:
        text += f"\nMore: focus history --before {page.next_cursor}"
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
