"""Timer semantics: every transition is a pure function of a session and an instant.

Remaining time is always derived from stored instants (`ends_at - now` while active, the
frozen `paused_remaining` while paused), never from counted ticks. Time spent paused never
counts as focus and never eats the session.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from app.domain.errors import RefusedError, UsageError
from app.domain.models import Mode, Session, Status

ZERO = timedelta(0)
MAX_MINUTES = 24 * 60
MAX_TITLE = 200
MAX_TAGS = 16
MAX_TAG_LEN = 40


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("instants must be timezone-aware")


def validate_minutes(minutes: float) -> timedelta:
    """A planned or extra duration in minutes, as an exact whole number of seconds."""
    if minutes != minutes or minutes <= 0:  # NaN or not positive
        raise UsageError(f"minutes must be greater than 0 (got {minutes:g})")
    if minutes > MAX_MINUTES:
        raise UsageError(f"minutes must be at most {MAX_MINUTES} (got {minutes:g})")
    seconds = round(minutes * 60)
    if seconds < 1:
        raise UsageError(f"minutes must be at least one second (got {minutes:g})")
    return timedelta(seconds=seconds)


def _refuse_unencodable(text: str, what: str) -> None:
    """Text that came from bytes that were not UTF-8 (lone surrogates), or holds NUL."""
    if "\0" in text:
        raise UsageError(f"{what} must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8 text") from None


def normalize_task(title: str | None) -> str | None:
    """Whitespace collapsed, at most `MAX_TITLE` characters, UTF-8 text without NUL."""
    if title is None:
        return None
    _refuse_unencodable(title, "a task title or reason")
    clean = " ".join(title.split())
    if len(clean) > MAX_TITLE:
        raise UsageError(f"task title is longer than {MAX_TITLE} characters")
    return clean or None


def normalize_tags(tags: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Lower-cased, trimmed, de-duplicated tags in the order given; `#` prefixes dropped."""
    out: list[str] = []
    for raw in tags or ():
        _refuse_unencodable(raw, "a tag")
        for part in raw.split(","):
            tag = part.strip().lstrip("#").strip().lower()
            if not tag:
                continue
            if len(tag) > MAX_TAG_LEN or any(c.isspace() for c in tag):
                raise UsageError(
                    f"tag {part.strip()!r} must be one word of at most {MAX_TAG_LEN} characters"
                )
            if tag not in out:
                out.append(tag)
    if len(out) > MAX_TAGS:
        raise UsageError(f"at most {MAX_TAGS} tags per session")
    return tuple(out)


def new_session(
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    client_id: uuid.UUID,
    mode: Mode,
    planned: timedelta,
    now: datetime,
    task_title: str | None = None,
    tags: tuple[str, ...] = (),
) -> Session:
    _require_aware(now)
    if planned <= ZERO:
        raise UsageError("a session needs a positive duration")
    return Session(
        id=session_id,
        user_id=user_id,
        client_id=client_id,
        mode=mode,
        status=Status.ACTIVE,
        planned=planned,
        started_at=now,
        ends_at=now + planned,
        task_title=normalize_task(task_title),
        tags=tags,
        created_at=now,
        updated_at=now,
    )


def last_change(session: Session) -> datetime:
    return session.updated_at or session.started_at


def _at(session: Session, now: datetime) -> datetime:
    """`now`, but never before the session's last recorded change: a wall clock stepped back
    (an NTP correction) must not give time back or date a change before the one it follows."""
    _require_aware(now)
    return max(now, last_change(session))


def remaining(session: Session, now: datetime) -> timedelta:
    """Time left on the session at `now`, never negative, never more than at its last change."""
    if session.status is Status.ACTIVE:
        assert session.ends_at is not None
        return max(ZERO, session.ends_at - _at(session, now))
    if session.status is Status.PAUSED:
        assert session.paused_remaining is not None
        return max(ZERO, session.paused_remaining)
    return ZERO


def focused(session: Session, now: datetime) -> timedelta:
    """Active time actually spent so far: the target minus what is left (pauses excluded)."""
    if session.status.is_terminal:
        return session.focused
    return min(session.target, max(ZERO, session.target - remaining(session, now)))


def _bump(session: Session, now: datetime, **changes: object) -> Session:
    return replace(session, version=session.version + 1, updated_at=now, **changes)  # type: ignore[arg-type]


def _require_open(session: Session, action: str) -> None:
    if not session.status.is_open:
        raise RefusedError(f"cannot {action}: the session is already {session.status.value}")


def pause(session: Session, now: datetime) -> Session:
    now = _at(session, now)
    if session.status is Status.PAUSED:
        raise RefusedError("the session is already paused")
    _require_open(session, "pause")
    return _bump(
        session,
        now,
        status=Status.PAUSED,
        paused_at=now,
        paused_remaining=remaining(session, now),
        ends_at=None,
        pause_count=session.pause_count + 1,
    )


def resume(session: Session, now: datetime) -> Session:
    now = _at(session, now)
    if session.status is Status.ACTIVE:
        raise RefusedError("the session is not paused")
    _require_open(session, "resume")
    assert session.paused_at is not None and session.paused_remaining is not None
    return _bump(
        session,
        now,
        status=Status.ACTIVE,
        ends_at=now + session.paused_remaining,
        paused_at=None,
        paused_remaining=None,
        paused_total=session.paused_total + max(ZERO, now - session.paused_at),
    )


def extend(session: Session, extra: timedelta, now: datetime) -> Session:
    """Add time to an open session; the overtime is kept apart from the planned duration."""
    now = _at(session, now)
    _require_open(session, "extend")
    if extra <= ZERO:
        raise UsageError("extension must be positive")
    if session.status is Status.ACTIVE:
        assert session.ends_at is not None
        # A session whose end already passed is extended from now, not from the past end.
        base = max(session.ends_at, now)
        overdue = base - session.ends_at
        return _bump(
            session, now, ends_at=base + extra, extended=session.extended + extra + overdue
        )
    assert session.paused_remaining is not None
    return _bump(
        session,
        now,
        paused_remaining=session.paused_remaining + extra,
        extended=session.extended + extra,
    )


def _finish(session: Session, at: datetime, status: Status, **changes: object) -> Session:
    spent = focused(session, at)
    stamp = {
        Status.COMPLETED: "completed_at",
        Status.ABANDONED: "abandoned_at",
        Status.EXPIRED: "expired_at",
    }[status]
    fields: dict[str, object] = {
        "status": status,
        stamp: at,
        "focused": spent,
        "paused_remaining": None,
        "paused_at": None,
    }
    if session.status is Status.PAUSED and session.paused_at is not None:
        fields["paused_total"] = session.paused_total + max(ZERO, at - session.paused_at)
    if session.status is Status.ACTIVE and session.ends_at is not None:
        fields["ends_at"] = min(session.ends_at, at)
    fields.update(changes)
    return _bump(session, at, **fields)


def complete(session: Session, now: datetime) -> Session:
    """Finish now; finishing early is allowed and rewards only the time actually spent."""
    now = _at(session, now)
    _require_open(session, "complete")
    return _finish(session, now, Status.COMPLETED)


def abandon(session: Session, now: datetime, reason: str | None = None) -> Session:
    now = _at(session, now)
    _require_open(session, "abandon")
    return _finish(session, now, Status.ABANDONED, abandon_reason=normalize_task(reason))


def settle(session: Session, now: datetime, max_pause: timedelta) -> Session:
    """Finalize a session the clock has overtaken while nothing was running.

    An active session whose end passed is completed at its end if found within the grace
    window (one planned duration after the end), otherwise expired with no reward. A session
    paused for longer than `max_pause` expires at the moment the limit ran out.
    Returns the session unchanged when nothing is due.
    """
    _require_aware(now)
    if session.status is Status.ACTIVE:
        assert session.ends_at is not None
        if now < session.ends_at:
            return session
        if now <= session.ends_at + session.planned:
            return _finish(session, session.ends_at, Status.COMPLETED)
        return _finish(session, session.ends_at, Status.EXPIRED)
    if session.status is Status.PAUSED:
        assert session.paused_at is not None
        limit = session.paused_at + max_pause
        if now > limit:
            return _finish(session, limit, Status.EXPIRED)
    return session


def record_sleep(session: Session, slept_from: datetime, woke_at: datetime, policy: str) -> Session:
    """Apply a detected suspend (a tick gap from `slept_from` to `woke_at`).

    Only the part of the gap after the session's last recorded change counts (the app may
    have been stopped while the CLI changed the session), and only while the session ran.
    A session whose end came before the machine slept is settled as usual. `pause`: the
    session is paused at the moment the machine slept, so the sleep is not focus. `count`:
    the sleep counts as focus. Either way the gap is recorded on the session. `ask` is
    decided by the interface, which then calls this with `pause` or `count`.
    """
    _require_aware(slept_from)
    _require_aware(woke_at)
    if policy not in ("pause", "count"):
        raise UsageError(f"unknown sleep policy {policy!r}")
    if not session.status.is_open:
        return session
    start = max(slept_from, last_change(session))
    woke = max(woke_at, start)
    if session.status is Status.PAUSED:
        gap = woke - start
        return _bump(session, woke, slept=session.slept + gap) if gap > ZERO else session
    assert session.ends_at is not None
    if session.ends_at <= start:
        return session  # it ended before the sleep: settling completes or expires it
    if policy == "count":
        gap = min(woke, session.ends_at) - start  # the part of the sleep inside the session
        return _bump(session, woke, slept=session.slept + gap) if gap > ZERO else session
    gap = woke - start
    if gap <= ZERO:
        return session
    return _bump(
        session,
        woke,
        status=Status.PAUSED,
        paused_at=start,
        paused_remaining=session.ends_at - start,
        ends_at=None,
        pause_count=session.pause_count + 1,
        slept=session.slept + gap,
    )
