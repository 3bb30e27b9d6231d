"""What to say, and what to start, when a session ends: pure rules for the timer screen."""

from __future__ import annotations

from datetime import tzinfo

from app.config import TimerSettings
from app.domain.models import Mode, Session, Status
from app.tui.text import MODE_TITLES, local_time


def auto_start(settings: TimerSettings, finished: Session, upcoming: Mode) -> bool:
    """Whether the next session starts by itself (`auto_start_breaks` / `auto_start_focus`)."""
    if finished.status is not Status.COMPLETED:
        return False
    if upcoming is Mode.FOCUS:
        return settings.auto_start_focus
    return settings.auto_start_breaks


def reward_text(session: Session) -> str:
    if not (session.xp_awarded or session.coins_awarded):
        return "no reward (under a minute)"
    parts = [f"+{session.xp_awarded} xp"]
    if session.coins_awarded:
        parts.append(f"+{session.coins_awarded} coins")
    return ", ".join(parts)


def end_message(
    finished: Session,
    upcoming: Mode,
    zone: tzinfo,
    *,
    while_closed: bool,
    started: bool,
    start_key: str,
    long_break_every: int,
) -> tuple[str, str, bool]:
    """(title, body, good news) of the toast that announces a finished session."""
    what = MODE_TITLES[finished.mode]
    when = local_time(finished.ended_at, zone)
    if finished.status is Status.COMPLETED:
        title = f"{what} complete"
        body = f"{what} finished at {when}: {reward_text(finished)}."
        good = True
    elif finished.status is Status.EXPIRED:
        title = f"{what} expired"
        body = f"{what} was left unattended and expired at {when}; no reward."
        good = False
    else:
        title = f"{what} {finished.status.value}"
        body = f"{what} was {finished.status.value} at {when} (from another window)."
        good = False
    if while_closed:
        body += " (while Focus was closed)"
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
