"""The timer settings the flows need, and where their events go."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from app.domain.models import Mode

EventSink = Callable[[str, dict[str, Any]], None]
"""Receives each committed change: the event name and the session as JSON-ready data."""


@dataclass(frozen=True, slots=True)
class TimerRules:
    """The timer settings the flows need (built from the config by the bootstrap)."""

    focus: timedelta = timedelta(minutes=25)
    short_break: timedelta = timedelta(minutes=5)
    long_break: timedelta = timedelta(minutes=15)
    long_break_every: int = 4
    max_pause: timedelta = timedelta(minutes=120)
    week_start: int = 0
    """The first day of a week in stats, as `date.weekday()` counts (0 is Monday)."""

    def default_for(self, mode: Mode) -> timedelta:
        return {
            Mode.FOCUS: self.focus,
            Mode.SHORT_BREAK: self.short_break,
            Mode.LONG_BREAK: self.long_break,
        }[mode]
