"""What to say, and what to start, when a session ends: pure rules for the timer screen."""

from __future__ import annotations

from datetime import datetime, tzinfo

from app.cli_output import ending
from app.config import TimerSettings
from app.domain.models import Mode, Session, Status
from app.tui.text import MODE_TITLES


def auto_start(settings: TimerSettings, finished: Session, upcoming: Mode) -> bool:
    """Whether the next session starts by itself (`auto_start_breaks` / `auto_start_focus`)."""
    if finished.status is not Status.COMPLETED:
        return False
    if upcoming is Mode.FOCUS:
        return settings.auto_start_focus
    return settings.auto_start_breaks


def end_message(
    finished: Session,
    upcoming: Mode,
    zone: tzinfo,
    now: datetime,
    *,
    while_closed: bool,
    started: bool,
    start_key: str,
    long_break_every: int,
) -> tuple[str, str, bool]:
    """(title, body, good news) of the toast that announces a finished session."""
    what = MODE_TITLES[finished.mode]
    # The first line in the CLI's words: `Focus session completed at 09:03, +25 xp.`,
    # `Focus session expired: left unattended past 09:28, no reward.`
    body = ending(finished, now, zone)
    good = finished.status is Status.COMPLETED
    if good:
        title = f"{what} complete"
    else:
        title = f"{what} {finished.status.value}"
        if finished.status is Status.ABANDONED and not while_closed:
            body += " Ended in another window."
    if while_closed:
        body += " It ended while Focus was closed."
    if finished.status is Status.COMPLETED:
        upcoming_title = MODE_TITLES[upcoming].lower()
        if started:
            body += f"\n{MODE_TITLES[upcoming]} started."
        elif upcoming is Mode.LONG_BREAK:
            body += (
                f"\n{long_break_every} focus sessions done: time for a long break. "
                f"Press {start_key} to start it."
            )
        else:
            body += f"\nUp next: {upcoming_title}. Press {start_key} to start."
    return title, body, good
