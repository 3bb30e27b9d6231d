"""Rewards, levels and streaks, with the reference backend's loopholes closed."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from app.domain.models import Level, Mode, Reward, Streak

MIN_REWARDED_SECONDS = 60


def reward_for(mode: Mode, focused_seconds: int) -> Reward:
    """Focus: 1 xp a minute (min 5), 1 coin per 5 minutes (min 2); breaks a flat amount.

    Under a minute of focused time earns nothing, so start/complete farming pays zero.
    """
    if focused_seconds < MIN_REWARDED_SECONDS:
        return Reward()
    if mode is Mode.FOCUS:
        return Reward(xp=max(5, focused_seconds // 60), coins=max(2, focused_seconds // 300))
    if mode is Mode.SHORT_BREAK:
        return Reward(xp=2)
    return Reward(xp=3, coins=1)


def level_for(total_xp: int) -> Level:
    """`level = 1 + isqrt(total_xp // 100)`: 100 xp -> 2, 400 -> 3, 900 -> 4."""
    total = max(0, total_xp)
    level = 1 + math.isqrt(total // 100)
    return Level(
        level=level,
        total_xp=total,
        level_floor_xp=100 * (level - 1) ** 2,
        next_level_xp=100 * level**2,
    )


_DAY = timedelta(days=1)


def _step(day: date, zone: tzinfo | None, sign: int) -> date:
    if zone is None:
        return day + sign * _DAY
    # A day away from noon, in absolute time: noon keeps clear of DST's lost or doubled
    # hour, and a day the zone skipped entirely (the date line moved) is never reached.
    noon = datetime.combine(day, time(12), tzinfo=zone).astimezone(UTC)
    return (noon + sign * _DAY).astimezone(zone).date()


def next_day(day: date, zone: tzinfo | None = None) -> date:
    """The calendar day after `day` in `zone`: after Pacific/Apia's 2011-12-29 came 12-31."""
    return _step(day, zone, 1)


def previous_day(day: date, zone: tzinfo | None = None) -> date:
    return _step(day, zone, -1)


def consecutive(prev: date, cur: date, zone: tzinfo | None = None) -> bool:
    gap = cur - prev
    return gap == _DAY or (gap > _DAY and gap <= 3 * _DAY and next_day(prev, zone) == cur)


def streak_from_runs(
    longest: int, last_day: date | None, last_run: int, today: date, zone: tzinfo | None = None
) -> Streak:
    """A streak from its runs of consecutive days: the longest run, and the latest run
    (which ends on `last_day`). The latest run is current while it ends today or yesterday."""
    if last_day is None:
        return Streak()
    current = last_run if last_day >= previous_day(today, zone) else 0
    return Streak(current=current, longest=longest, last_day=last_day)


def day_runs(days: Iterable[date], zone: tzinfo | None = None) -> tuple[int, date | None, int]:
    """(longest run, last day, length of the run ending on the last day) of distinct days;
    days are consecutive as calendar days of `zone` (None: plain date arithmetic)."""
    ordered = sorted(set(days))
    if not ordered:
        return 0, None, 0
    longest = run = 1
    for prev, cur in itertools.pairwise(ordered):
        run = run + 1 if consecutive(prev, cur, zone) else 1
        longest = max(longest, run)
    return longest, ordered[-1], run


def streak_for(days: Iterable[date], today: date, zone: tzinfo | None = None) -> Streak:
    """Consecutive local calendar days with at least one rewarded focus session.

    The current streak still counts while the last such day is today or yesterday.
    """
    return streak_from_runs(*day_runs(days, zone), today, zone)


def suggest_next_mode(mode: Mode, focus_done_in_cycle: int, long_break_every: int) -> Mode:
    """After a focus session: a long break every `long_break_every`th, else a short one."""
    if mode is not Mode.FOCUS:
        return Mode.FOCUS
    due = focus_done_in_cycle > 0 and focus_done_in_cycle % max(1, long_break_every) == 0
    return Mode.LONG_BREAK if due else Mode.SHORT_BREAK
