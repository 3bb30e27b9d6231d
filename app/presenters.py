"""Plain JSON-ready views of domain objects, shared by the CLI, hooks and export."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo
from typing import Any

from app.domain import timer
from app.domain.models import Bucket, Completion, Level, Session, Stats, Streak


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def ceil_seconds(delta: timedelta) -> int:
    """Whole seconds, rounded up: a countdown shows 25:00 until a full second has passed."""
    return max(0, math.ceil(delta.total_seconds() - 1e-9))


def clock_text(delta: timedelta) -> str:
    total = ceil_seconds(delta)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


def session_dict(s: Session, now: datetime) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "mode": s.mode.value,
        "status": s.status.value,
        "task_title": s.task_title,
        "tags": list(s.tags),
        "duration_seconds": int(s.target.total_seconds()),
        "planned_seconds": int(s.planned.total_seconds()),
        "extended_seconds": int(s.extended.total_seconds()),
        "remaining_seconds": ceil_seconds(timer.remaining(s, now)),
        "focused_seconds": int(timer.focused(s, now).total_seconds()),
        "paused_seconds": int(s.paused_total.total_seconds()),
        "slept_seconds": int(s.slept.total_seconds()),
        "pause_count": s.pause_count,
        "started_at": iso(s.started_at),
        "ends_at": iso(s.ends_at),
        "paused_at": iso(s.paused_at),
        "completed_at": iso(s.completed_at),
        "abandoned_at": iso(s.abandoned_at),
        "expired_at": iso(s.expired_at),
        "abandon_reason": s.abandon_reason,
        "xp_awarded": s.xp_awarded,
        "coins_awarded": s.coins_awarded,
        "version": s.version,
    }


def ending_dict(s: Session | None, now: datetime, zone: tzinfo) -> dict[str, Any] | None:
    """A session that ended while the user was not looking, with the line that tells it."""
    if s is None:
        return None
    from app.cli_output import ending

    return {"session": session_dict(s, now), "message": ending(s, now, zone)}


def level_dict(level: Level) -> dict[str, Any]:
    return {
        "level": level.level,
        "total_xp": level.total_xp,
        "level_floor_xp": level.level_floor_xp,
        "next_level_xp": level.next_level_xp,
    }


def streak_dict(streak: Streak) -> dict[str, Any]:
    return {
        "current": streak.current,
        "longest": streak.longest,
        "last_day": streak.last_day.isoformat() if streak.last_day else None,
    }


def completion_dict(c: Completion, now: datetime) -> dict[str, Any]:
    return {
        "session": session_dict(c.session, now),
        "level": c.level.level,
        "new_level": c.level.level,
        "leveled_up": c.leveled_up,
        "total_xp": c.level.total_xp,
        "streak": c.streak.current,
        "longest_streak": c.streak.longest,
    }


def bucket_dict(b: Bucket) -> dict[str, Any]:
    rate = b.completion_rate
    return {
        "completed": b.completed,
        "too_short": b.too_short,
        "abandoned": b.abandoned,
        "expired": b.expired,
        "focused_seconds": b.focused_seconds,
        "xp": b.xp,
        "coins": b.coins,
        "completion_rate": round(rate, 4) if rate is not None else None,
    }


def stats_dict(s: Stats) -> dict[str, Any]:
    return {
        "total": bucket_dict(s.total),
        "focus": bucket_dict(s.focus),
        "today": bucket_dict(s.today),
        "week": bucket_dict(s.week),
        "today_focus": bucket_dict(s.today_focus),
        "week_focus": bucket_dict(s.week_focus),
        "xp": s.level.total_xp,
        "coins": s.coins,
        "level": level_dict(s.level),
        "streak": streak_dict(s.streak),
        "by_day": {d.isoformat(): bucket_dict(b) for d, b in sorted(s.by_day.items())},
        "by_task": [{"task": k} | bucket_dict(b) for k, b in s.by_task],
        "by_tag": [{"tag": k} | bucket_dict(b) for k, b in s.by_tag],
        "abandon_reasons": [{"reason": k, "count": n} for k, n in s.abandon_reasons],
    }


EXPORT_FIELDS = (
    "id",
    "mode",
    "status",
    "task_title",
    "tags",
    "started_at",
    "ends_at",
    "completed_at",
    "abandoned_at",
    "expired_at",
    "abandon_reason",
    "duration_seconds",
    "planned_seconds",
    "extended_seconds",
    "focused_seconds",
    "paused_seconds",
    "slept_seconds",
    "pause_count",
    "xp_awarded",
    "coins_awarded",
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes for the start of a formula (OWASP's CSV injection list)."""


def csv_cell(value: Any) -> Any:
    """A text cell that would start a formula gets a leading `'`; anything else is as is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_row(s: Session, now: datetime) -> dict[str, Any]:
    """One export row: the session's fields, tags space-separated, no cell a formula."""
    row = session_dict(s, now)
    row["tags"] = " ".join(row["tags"])
    return {key: csv_cell(row[key]) for key in EXPORT_FIELDS}
