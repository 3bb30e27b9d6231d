"""Honest sleep gaps and a wall clock that steps backwards: remaining time never grows beyond
what the session had, and no stamp is ever dated before the change it follows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain import timer
from app.domain.errors import FocusError
from app.domain.models import Mode, Session, Status

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _new(at: datetime = T0, minutes: int = 25) -> Session:
    return timer.new_session(
        session_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        mode=Mode.FOCUS,
        planned=timedelta(minutes=minutes),
        now=at,
    )


def test_a_sleep_that_began_before_the_last_change_counts_only_after_it() -> None:
    """Start at T0, pause at +5 (20 left), resume at +30; at +32 a sleep from +4 to +32 is
    found (the app was stopped while the CLI paused and resumed): only +30..+32 is sleep."""
    s = timer.pause(_new(), T0 + 5 * MIN)
    s = timer.resume(s, T0 + 30 * MIN)
    after = timer.record_sleep(s, T0 + 4 * MIN, T0 + 32 * MIN, "pause")
    assert after.status is Status.PAUSED
    assert after.paused_at == T0 + 30 * MIN
    assert after.paused_remaining == 20 * MIN
    assert after.slept == 2 * MIN
    assert timer.resume(after, T0 + 40 * MIN).paused_total == 25 * MIN + 10 * MIN


def test_a_sleep_that_began_before_the_session_started() -> None:
    s = _new(T0 + 5 * MIN)
    after = timer.record_sleep(s, T0, T0 + 10 * MIN, "pause")
    assert after.paused_at == s.started_at
    assert after.paused_remaining == 25 * MIN
    assert after.slept == 5 * MIN
    counted = timer.record_sleep(s, T0, T0 + 10 * MIN, "count")
    assert counted.slept == 5 * MIN  # not the part before the session existed


def test_a_counted_sleep_longer_than_the_session_records_only_its_inside() -> None:
    s = _new(minutes=25)
    after = timer.record_sleep(s, T0 + 10 * MIN, T0 + 3 * 60 * MIN, "count")
    assert after.slept == 15 * MIN
    # It then settles as a session that ran out at its end.
    settled = timer.settle(after, T0 + 3 * 60 * MIN, timedelta(hours=2))
    assert settled.status is Status.EXPIRED and settled.expired_at == s.ends_at


def test_a_session_that_ended_before_the_sleep_is_left_to_settle() -> None:
    s = _new(minutes=25)
    assert timer.record_sleep(s, T0 + 30 * MIN, T0 + 40 * MIN, "pause") is s
    done = timer.settle(s, T0 + 40 * MIN, timedelta(hours=2))
    assert done.status is Status.COMPLETED and done.completed_at == s.ends_at


def test_a_clock_set_back_an_hour_gives_no_time_back() -> None:
    s = _new(minutes=25)
    back = T0 - 60 * MIN
    assert timer.remaining(s, back) == 25 * MIN  # not 1:25:00
    paused = timer.pause(s, back)
    assert paused.paused_remaining == 25 * MIN and paused.paused_at == T0
    running = timer.resume(paused, back)
    finished = timer.complete(running, back)
    assert finished.completed_at is not None and finished.completed_at >= s.started_at
    assert finished.focused == timedelta(0)
    s2 = timer.pause(_new(minutes=25), T0 + 10 * MIN)
    abandoned = timer.abandon(s2, T0 - 5 * MIN)
    assert abandoned.abandoned_at == T0 + 10 * MIN


_actions = st.lists(
    st.tuples(
        st.sampled_from(["pause", "resume", "extend", "complete", "abandon", "sleep", "count"]),
        st.integers(min_value=-90, max_value=90),  # minutes the wall clock moves (may go back)
        st.integers(min_value=0, max_value=120),  # for a sleep: how long ago it began
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(steps=_actions, minutes=st.integers(min_value=1, max_value=120))
def test_remaining_and_stamps_stay_honest_whatever_the_clock_does(
    steps: list[tuple[str, int, int]], minutes: int
) -> None:
    s = _new(minutes=minutes)
    now = T0
    for action, moved, ago in steps:
        now += moved * MIN
        before = s
        try:
            if action == "pause":
                s = timer.pause(s, now)
            elif action == "resume":
                s = timer.resume(s, now)
            elif action == "extend":
                s = timer.extend(s, 5 * MIN, now)
            elif action == "complete":
                s = timer.complete(s, now)
            elif action == "abandon":
                s = timer.abandon(s, now)
            else:
                policy = "pause" if action == "sleep" else "count"
                s = timer.record_sleep(s, now - ago * MIN, now, policy)
        except FocusError:
            continue
        left = timer.remaining(s, now)
        assert timedelta(0) <= left <= s.target
        assert timedelta(0) <= timer.focused(s, now) <= s.target
        if s is not before:
            assert s.version == before.version + 1
            assert s.updated_at is not None and s.updated_at >= timer.last_change(before)
            # Only an extension may add time, and exactly what it adds; a sleep paused at the
            # moment the machine slept keeps what was left then (the sleep is not focus).
            extra = s.extended - before.extended
            seen_at = max(now - ago * MIN, timer.last_change(before)) if action == "sleep" else now
            assert timer.remaining(s, now) <= timer.remaining(before, seen_at) + extra
        for stamp in (s.paused_at, s.completed_at, s.abandoned_at, s.expired_at):
            assert stamp is None or stamp >= s.started_at
        if s.status.is_terminal:
            assert s.ended_at is not None and s.ended_at >= timer.last_change(before)
            break
