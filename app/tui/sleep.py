"""Suspend detection: a gap between timer ticks far beyond the tick interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_GAP = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Gap:
    """The machine slept (or the process was stopped) from `slept` until `woke`."""

    slept: datetime
    woke: datetime

    @property
    def length(self) -> timedelta:
        return self.woke - self.slept


class SleepWatch:
    """Remembers the last tick and reports a gap longer than `max(5 s, 10 ticks)`.

    Ticks normally arrive every `tick` seconds; a much longer silence means the event loop
    did not run at all, which on a laptop is a suspend.
    """

    def __init__(self, tick_seconds: float) -> None:
        self.threshold = max(MIN_GAP, timedelta(seconds=10 * tick_seconds))
        self.last: datetime | None = None

    def check(self, now: datetime) -> Gap | None:
        last, self.last = self.last, now
        if last is not None and now - last > self.threshold:
            return Gap(last, now)
        return None

    def reset(self, now: datetime | None = None) -> None:
        """Forget the last tick (after a modal wait, or when a new session starts)."""
        self.last = now
