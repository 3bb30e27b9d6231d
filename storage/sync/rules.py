"""What a synced row must satisfy: the checks the server makes of what a client sends (the
same rules run in Postgres triggers, `storage.server.CHECKS`) and a device makes of what it
pulls. A row that fails one is never applied: a push records it as rejected with the reason,
a pull skips and reports it. Each check returns the reason in a few words, or None."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.domain.models import LedgerEntry, Session, Status
from app.domain.rewards import reward_for
from app.domain.timer import MAX_MINUTES, MAX_TAG_LEN, MAX_TAGS, MAX_TITLE

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
SKEW = timedelta(days=1)
"""How far ahead of the checking clock a device's clock may run."""
MAX_EXTENDED = timedelta(days=7)
SLACK = timedelta(seconds=1)


def _shape(s: Session) -> str | None:
    ends = (s.completed_at, s.abandoned_at, s.expired_at)
    own = {
        Status.COMPLETED: s.completed_at,
        Status.ABANDONED: s.abandoned_at,
        Status.EXPIRED: s.expired_at,
    }
    if s.status.is_terminal:
        if own[s.status] is None or sum(e is not None for e in ends) != 1:
            return f"a {s.status.value} session needs its end instant alone"
    elif any(e is not None for e in ends):
        return f"an {s.status.value} session has an end instant"
    if s.status is Status.PAUSED and (s.paused_at is None or s.paused_remaining is None):
        return "a paused session lacks its pause"
    if s.status is Status.ACTIVE and s.ends_at is None:
        return "an active session has no end time"
    return None


def _times(s: Session, now: datetime) -> str | None:
    if not EARLIEST <= s.started_at <= now + SKEW:
        return f"start {s.started_at.isoformat()} out of range"
    for name in ("ends_at", "paused_at", "completed_at", "abandoned_at", "expired_at"):
        value = getattr(s, name)
        if value is not None and not s.started_at <= value <= now + SKEW:
            return f"{name} {value.isoformat()} out of range"
    if s.created_at and s.updated_at and s.updated_at < s.created_at:
        return "updated before it was created"
    return None


def _amounts(s: Session) -> str | None:
    if not timedelta(seconds=1) <= s.planned <= timedelta(minutes=MAX_MINUTES):
        return f"planned {s.planned} out of range"
    if not timedelta(0) <= s.extended <= MAX_EXTENDED:
        return "extension out of range"
    for name in ("paused_total", "slept", "focused"):
        if getattr(s, name) < timedelta(0):
            return f"negative {name}"
    if s.paused_remaining is not None and not timedelta(0) <= s.paused_remaining <= s.target:
        return "paused remaining time out of range"
    if s.pause_count < 0 or s.version < 1:
        return "negative pause count or version"
    end = s.ended_at
    if end is not None and s.focused > end - s.started_at + SLACK:
        return "more focused time than the session lasted"
    return None


def _reward(s: Session) -> str | None:
    paid = (s.xp_awarded, s.coins_awarded)
    if s.status is not Status.COMPLETED:
        return None if paid == (0, 0) else f"a {s.status.value} session carries a reward"
    due = reward_for(s.mode, int(s.focused.total_seconds()))
    if paid not in ((0, 0), (due.xp, due.coins)):
        return f"reward {paid[0]} xp / {paid[1]} coins is not the {due.xp} / {due.coins} due"
    return None


def _text(s: Session) -> str | None:
    if s.task_title is not None and len(s.task_title) > MAX_TITLE:
        return "task title too long"
    if len(s.tags) > MAX_TAGS or any(len(t) > MAX_TAG_LEN for t in s.tags):
        return "too many or too long tags"
    return None


def session_problem(s: Session, now: datetime) -> str | None:
    """Why `s` cannot be stored as a synced session (None: it can)."""
    for check in (_shape, _amounts, _reward, _text):
        problem = check(s)
        if problem:
            return problem
    return _times(s, now)


def ledger_problem(entry: LedgerEntry, session: Session | None) -> str | None:
    """Why `entry` cannot be stored, given the state of its session where it will be."""
    if session is None:
        return "award for a session that does not exist"
    mode = session.mode.value
    if entry.reason != f"{mode}_complete" or entry.idempotency_key != (
        f"{mode}_complete:{session.id}"
    ):
        return "award key does not match its session"
    if session.status is not Status.COMPLETED:
        return f"award for a session that was {session.status.value}"
    due = reward_for(session.mode, int(session.focused.total_seconds()))
    if (entry.xp, entry.coins) != (due.xp, due.coins) or (entry.xp, entry.coins) != (
        session.xp_awarded,
        session.coins_awarded,
    ):
        return f"award {entry.xp} xp / {entry.coins} coins is not the {due.xp} / {due.coins} due"
    return None
