"""Short human texts (durations, local times, tag lists) shared by the screens."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from app.domain.models import Mode

MODE_ORDER = (Mode.FOCUS, Mode.SHORT_BREAK, Mode.LONG_BREAK)
MODE_TITLES = {Mode.FOCUS: "Focus", Mode.SHORT_BREAK: "Short break", Mode.LONG_BREAK: "Long break"}


def minutes_text(seconds: float) -> str:
    """`0m`, `45m`, `1h 05m`: focused time at a glance."""
    minutes = int(seconds) // 60
    hours, rest = divmod(minutes, 60)
    return f"{hours}h {rest:02d}m" if hours else f"{rest}m"


def gap_text(delta: timedelta) -> str:
    """A suspend length: `42s`, `12m`, `1h 05m`."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    return minutes_text(seconds)


def local_time(instant: datetime | None, zone: tzinfo) -> str:
    return instant.astimezone(zone).strftime("%H:%M") if instant else "--:--"


def local_stamp(instant: datetime, zone: tzinfo, this_year: int) -> str:
    """`21 Nov 14:05` this year; `21 Nov 2025` before (the time matters less than the year)."""
    local = instant.astimezone(zone)
    return local.strftime("%d %b %H:%M" if local.year == this_year else "%d %b %Y")


def rate_text(rate: float | None) -> str:
    return f"{round(rate * 100)}%" if rate is not None else "-"


def parse_tags(text: str) -> list[str]:
    """Tags typed as `deep, work` or `#deep #work`: split on commas and spaces."""
    return [part for part in text.replace(",", " ").split() if part]


def next_mode(mode: Mode) -> Mode:
    return MODE_ORDER[(MODE_ORDER.index(mode) + 1) % len(MODE_ORDER)]
