"""The commands that change the open session: start, edit, pause, resume, extend, complete,
abandon."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from app import cli_output as out
from app.cli.context import emit, with_store
from app.domain.errors import UsageError
from app.domain.models import Mode
from app.presenters import completion_dict, ending_dict, session_dict

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.domain.models import Session


def _show(args: argparse.Namespace, app: Container, session: Session, text: str) -> None:
    emit(args, {"session": session_dict(session, app.clock.now())}, text)


@with_store(readonly=False)
async def start(args: argparse.Namespace, app: Container) -> None:
    s, replaced = await app.service.start_replacing(
        Mode(args.mode), args.minutes, args.task, args.tag, args.force
    )
    # Asked once started: a refused start tells nothing, so it marks nothing told.
    ended = await app.service.last_ending_unseen()
    now = app.clock.now()
    lines = [out.ending(ended, now, app.zone)] if ended else []
    if replaced is not None:
        lines.append(out.replaced(replaced, app.zone))
    lines.append(out.started(s, app.zone))
    data = {
        "session": session_dict(s, now),
        "replaced": session_dict(replaced, now) if replaced else None,
        "last_ending": ending_dict(ended, now, app.zone),
    }
    emit(args, data, "\n".join(lines))


def edit(args: argparse.Namespace) -> int:
    """edit: the options are checked before any database is opened."""
    if args.task is None and args.tag is None and not args.no_tags:
        raise UsageError(
            "nothing to change: give --task, --tag or --no-tags (see focus edit --help)"
        )
    return _edit(args)


@with_store(readonly=False)
async def _edit(args: argparse.Namespace, app: Container) -> None:
    tags = [] if args.no_tags else args.tag
    s = await app.service.edit(args.task, tags)
    _show(args, app, s, f"Edited: {out.session_line(s, app.clock.now(), app.zone)}")


@with_store(readonly=False)
async def pause(args: argparse.Namespace, app: Container) -> None:
    s = await app.service.pause()
    _show(args, app, s, f"Paused {out.label(s)} with {out.left(s, app.clock.now())} left.")


@with_store(readonly=False)
async def resume(args: argparse.Namespace, app: Container) -> None:
    s = await app.service.resume()
    _show(args, app, s, f"Resumed {out.session_line(s, app.clock.now(), app.zone)}")


@with_store(readonly=False)
async def extend(args: argparse.Namespace, app: Container) -> None:
    s = await app.service.extend(args.minutes)
    line = out.session_line(s, app.clock.now(), app.zone)
    _show(args, app, s, f"Extended by {args.minutes:g} min: {line}")


@with_store(readonly=False)
async def complete(args: argparse.Namespace, app: Container) -> None:
    c = await app.service.complete()
    emit(args, completion_dict(c, app.clock.now()), out.completed(c))


@with_store(readonly=False)
async def abandon(args: argparse.Namespace, app: Container) -> None:
    s = await app.service.abandon(args.reason)
    focused = out.minutes(s.focused.total_seconds())
    _show(args, app, s, f"Abandoned {out.label(s)} after {focused} (no reward).")
