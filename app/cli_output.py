"""Human-readable CLI output: short lines a person can read at a glance.

Every piece of user data (titles, tags, reasons) goes through `visible` on its way in: a
title holding an escape sequence is shown as `\\x1b[2J`, never sent to the terminal.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from app.domain import timer
from app.domain.models import Bucket, Completion, Session, Stats, Status
from app.presenters import clock_text
from app.textsafe import visible


def minutes(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes} min"


def left(s: Session, now: datetime) -> str:
    return clock_text(timer.remaining(s, now))


def label(s: Session) -> str:
    text = s.mode.label
    if s.task_title:
        text += f' "{visible(s.task_title)}"'
    if s.tags:
        text += " " + tags_text(s.tags)
    return text


def tags_text(tags: tuple[str, ...]) -> str:
    return " ".join(f"#{visible(t)}" for t in tags)


def local(instant: datetime | None, zone: tzinfo, fmt: str = "%H:%M") -> str:
    return instant.astimezone(zone).strftime(fmt) if instant else "-"


def session_line(s: Session, now: datetime, zone: tzinfo) -> str:
    left = clock_text(timer.remaining(s, now))
    if s.status is Status.ACTIVE:
        return f"{label(s)} · active · {left} left (ends {local(s.ends_at, zone)})"
    if s.status is Status.PAUSED:
        return f"{label(s)} · paused at {local(s.paused_at, zone)} · {left} left"
    return f"{label(s)} · {s.status.value}"


def started(s: Session, zone: tzinfo) -> str:
    return f"Started {label(s)}: {clock_text(s.target)}, ends at {local(s.ends_at, zone)}."


def completed(c: Completion) -> str:
    s = c.session
    text = f"Completed {label(s)}: {minutes(s.focused.total_seconds())} focused"
    if s.xp_awarded or s.coins_awarded:
        text += f", +{s.xp_awarded} xp, +{s.coins_awarded} coins"
    elif s.focused.total_seconds() < 60:
        text += " (under a minute: no reward)"
    text += f". Level {c.level.level} ({c.level.total_xp} xp)"
    if c.leveled_up:
        text += " — level up!"
    days = c.streak.current
    return text + f", streak {days} day{'s' if days != 1 else ''}."


def history_table(sessions: list[Session], zone: tzinfo) -> str:
    if not sessions:
        return "No sessions yet."
    lines = [f"{'started':16}  {'mode':11}  {'status':9}  {'focused':>7}  {'xp':>4}  task"]
    for s in sessions:
        task = visible(s.task_title or "") + "".join(f" #{visible(t)}" for t in s.tags)
        lines.append(
            f"{local(s.started_at, zone, '%Y-%m-%d %H:%M'):16}  {s.mode.value:11}  "
            f"{s.status.value:9}  {int(s.focused.total_seconds()) // 60:>5}m  "
            f"{s.xp_awarded:>4}  {task}"
        )
    return "\n".join(lines)


def _bucket_line(name: str, focus: Bucket, every: Bucket) -> str:
    """Focus sessions first (what the app's cards count), then breaks and all the xp."""
    rate = focus.completion_rate
    rate_text = f", {rate:.0%} completed" if rate is not None else ""
    breaks = every.completed - focus.completed
    return (
        f"{name:9} {focus.completed} focus completed, {focus.abandoned} abandoned, "
        f"{focus.expired} expired{rate_text} · {minutes(focus.focused_seconds)} focused · "
        f"{breaks} break{'s' if breaks != 1 else ''} · {every.xp} xp"
    )


def stats_text(s: Stats) -> str:
    lines = [
        _bucket_line("Today", s.today_focus, s.today),
        _bucket_line("Week", s.week_focus, s.week),
        _bucket_line("All time", s.focus, s.total),
        f"Level {s.level.level} · {s.level.total_xp} xp "
        f"({s.level.next_level_xp - s.level.total_xp} to level {s.level.level + 1}) · "
        f"{s.coins} coins",
        f"Streak {s.streak.current} day(s), longest {s.streak.longest}",
    ]
    if s.by_task:
        lines.append(
            "Top tasks: "
            + ", ".join(f"{visible(k)} ({minutes(b.focused_seconds)})" for k, b in s.by_task[:5])
        )
    if s.by_tag:
        lines.append(
            "Top tags:  "
            + ", ".join(f"#{visible(k)} ({minutes(b.focused_seconds)})" for k, b in s.by_tag[:5])
        )
    if s.abandon_reasons:
        lines.append(
            "Abandoned: " + ", ".join(f"{visible(k)} ({n})" for k, n in s.abandon_reasons[:5])
        )
    return "\n".join(lines)


def statusline(s: Session | None, now: datetime) -> str:
    if s is None:
        return ""
    icon = "▶" if s.status is Status.ACTIVE else "⏸"
    task = f" {visible(s.task_title)}" if s.task_title else ""
    return f"{icon} {s.mode.label} {clock_text(timer.remaining(s, now))}{task}"
