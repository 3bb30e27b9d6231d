"""Which stats buckets a finished session adds to (a pure rule shared by every store)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from app.domain.models import Bucket, Mode, Session, Status

SHORT = timedelta(minutes=1)
"""A focus session completed in less is too short to count (it earns nothing)."""
SHORT_DIM = "short"
"""The dimension counting them: key "" for all time, else the local day they ended."""


def local_day(instant: datetime, zone: tzinfo) -> date:
    return instant.astimezone(zone).date()


def rollup_entries(session: Session, zone: tzinfo) -> list[tuple[str, str, str, Bucket]]:
    """(dimension, key, mode, counts) rows for a session that just reached a terminal status.

    A session counts on the local day it ended. Focused time counts for completed sessions
    only, the same time that earned its reward.
    """
    ended = session.ended_at
    if not session.status.is_terminal or ended is None:
        return []
    completed = session.status is Status.COMPLETED
    counts_focus = completed and session.mode is Mode.FOCUS
    bucket = Bucket(
        completed=int(completed),
        abandoned=int(session.status is Status.ABANDONED),
        expired=int(session.status is Status.EXPIRED),
        focused_seconds=int(session.focused.total_seconds()) if counts_focus else 0,
        xp=session.xp_awarded,
        coins=session.coins_awarded,
    )
    mode = session.mode.value
    # "all" keeps per-mode totals in three rows, so totals never sum the whole history.
    rows = [("all", "", mode, bucket), ("day", local_day(ended, zone).isoformat(), mode, bucket)]
    if session.task_title:
        rows.append(("task", session.task_title, mode, bucket))
    rows.extend(("tag", tag, mode, bucket) for tag in session.tags)
    if session.status is Status.ABANDONED:
        rows.append(("reason", session.abandon_reason or "(no reason)", mode, bucket))
    if counts_focus and session.focused < SHORT:
        # Too short to count: kept apart (all time, and by day) for the stats to subtract.
        short = Bucket(completed=1)
        day = local_day(ended, zone).isoformat()
        rows.extend([(SHORT_DIM, "", mode, short), (SHORT_DIM, day, mode, short)])
    return rows
