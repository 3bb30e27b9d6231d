"""Human-readable CLI output: short lines a person can read at a glance.

Every piece of user data (titles, tags, reasons) goes through `visible` on its way in: a
title holding an escape sequence is shown as `\\x1b[2J`, never sent to the terminal.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from app.domain import timer
from app.domain.models import Bucket, Completion, Mode, Session, Stats, Status
from app.presenters import clock_text
from app.textsafe import visible


def plural(count: int, word: str) -> str:
    """`1 coin`, `2 coins`, `0 coins`: the count and the word, plural unless exactly one."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def reward_text(xp: int, coins: int) -> str:
    """`+25 xp, +5 coins`, `+2 xp`, `+5 xp, +1 coin` (nothing earned: empty)."""
    parts = [f"+{xp} xp"] if xp else []
    if coins:
        parts.append(f"+{plural(coins, 'coin')}")
    return ", ".join(parts)


def too_short(s: Session) -> bool:
    """A completed focus session under a minute: it earns nothing and keeps no streak."""
    return (
        s.status is Status.COMPLETED
        and s.mode is Mode.FOCUS
        and s.focused.total_seconds() < 60
        and not s.xp_awarded
    )


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
    spent = minutes(s.focused.total_seconds())
    if s.mode is Mode.FOCUS:
        text = f"Completed {label(s)}: {spent} focused"
    else:
        text = f"Completed {label(s)} after {spent}"
    earned = reward_text(s.xp_awarded, s.coins_awarded)
    if earned:
        text += f", {earned}"
    elif s.focused.total_seconds() < 60:
        text += " (under a minute: too short to count, no reward)"
    text += f". Level {c.level.level} ({c.level.total_xp} xp)"
    if c.leveled_up:
        text += " — level up!"
    return text + f", streak {plural(c.streak.current, 'day')}."


def ending(s: Session, now: datetime, zone: tzinfo) -> str:
    """What happened to a session that ended while the user was not looking, in a line:
    `Focus session completed at 09:03, +25 xp, +5 coins.`, `Focus session expired: left
    unattended past 09:28, no reward.`"""
    name = "Focus session" if s.mode is Mode.FOCUS else s.mode.label.capitalize()
    same_day = now.astimezone(zone).date()

    def at(instant: datetime | None) -> str:
        if instant is None:
            return "-"
        local_at = instant.astimezone(zone)
        return f"{local_at:%H:%M}" if local_at.date() == same_day else f"{local_at:%Y-%m-%d %H:%M}"

    if s.status is Status.COMPLETED:
        earned = reward_text(s.xp_awarded, s.coins_awarded)
        if earned:
            text = f"{name} completed at {at(s.completed_at)}, {earned}"
        elif too_short(s):
            text = f"{name} completed at {at(s.completed_at)}: under a minute, too short to count"
        else:
            text = f"{name} completed at {at(s.completed_at)}"
    elif s.status is Status.EXPIRED:
        if s.ends_at is not None:  # it ran out and nobody came back within its grace window
            text = f"{name} expired: left unattended past {at(s.ends_at + s.planned)}, no reward"
        else:  # paused past the pause limit
            text = f"{name} expired: left paused past {at(s.expired_at)}, no reward"
    elif s.status is Status.ABANDONED:
        why = f" ({visible(s.abandon_reason)})" if s.abandon_reason else ""
        text = f"{name} abandoned at {at(s.abandoned_at)}{why}, no reward"
    else:
        return session_line(s, now, zone)
    what = label(s).removeprefix(s.mode.label).strip()
    return text + (f": {what}." if what else ".")


def replaced(s: Session, zone: tzinfo) -> str:
    """The line `start --force` prints about the session it abandoned."""
    return (
        f"Abandoned {label(s)} started at {local(s.started_at, zone)} "
        f"after {minutes(s.focused.total_seconds())} (no reward)."
    )


EMPTY_HISTORY = "No sessions yet."
NO_MATCH = "No sessions match these filters."
NO_MORE = "No more sessions."


def history_table(sessions: list[Session], zone: tzinfo, empty: str = EMPTY_HISTORY) -> str:
    """The page as a table (`empty` when it has no rows); an abandoned session's reason
    follows its task, and a completed focus session under a minute says it did not count."""
    if not sessions:
        return empty
    lines = [f"{'started':16}  {'mode':11}  {'status':9}  {'focused':>7}  {'xp':>4}  task"]
    for s in sessions:
        task = visible(s.task_title or "") + "".join(f" #{visible(t)}" for t in s.tags)
        if s.status is Status.ABANDONED:
            task += f"{' · ' if task else ''}reason: {visible(s.abandon_reason or '(none)')}"
        elif too_short(s):
            task += f"{' · ' if task else ''}too short to count"
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
    short = f", {focus.too_short} too short to count" if focus.too_short else ""
    return (
        f"{name:9} {focus.completed} focus completed{short}, {focus.abandoned} abandoned, "
        f"{focus.expired} expired{rate_text} · {minutes(focus.focused_seconds)} focused · "
        f"{plural(breaks, 'break')} · {every.xp} xp"
    )


def stats_text(s: Stats) -> str:
    lines = [
        _bucket_line("Today", s.today_focus, s.today),
        _bucket_line("Week", s.week_focus, s.week),
        _bucket_line("All time", s.focus, s.total),
        f"Level {s.level.level} · {s.level.total_xp} xp "
        f"({s.level.next_level_xp - s.level.total_xp} to level {s.level.level + 1}) · "
        f"{plural(s.coins, 'coin')}",
        f"Streak {plural(s.streak.current, 'day')}, longest {s.streak.longest}",
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
