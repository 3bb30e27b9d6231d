"""Timer semantics: exact remaining and focused time, pauses, grace window, sleep, refusals."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.clock import FakeClock, ScaledClock
from app.domain import timer
from app.domain.errors import RefusedError, UsageError
from app.domain.models import Mode, Session, Status
from app.domain.rewards import reward_for
from app.services import FocusService
from storage.sql import SqlRepository

PLANNED = timedelta(minutes=25)
MAX_PAUSE = timedelta(minutes=120)


def start(clock: FakeClock, planned: timedelta = PLANNED, mode: Mode = Mode.FOCUS) -> Session:
    return timer.new_session(
        session_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        mode=mode,
        planned=planned,
        now=clock.now(),
    )


# -- remaining and focused time --------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "paused"),
    [(timedelta(seconds=7), timedelta(seconds=13)), (timedelta(milliseconds=100), timedelta(0))],
)
def test_hundred_pause_resume_cycles_do_not_drift(
    clock: FakeClock, active: timedelta, paused: timedelta
) -> None:
    cycles = 100
    session = start(clock)
    begun = clock.now()
    for _ in range(cycles):
        clock.advance(active.total_seconds())
        session = timer.pause(session, clock.now())
        clock.advance(paused.total_seconds())
        session = timer.resume(session, clock.now())

    now = clock.now()
    assert now - begun == cycles * (active + paused)
    assert timer.remaining(session, now) == PLANNED - cycles * active
    assert timer.focused(session, now) == cycles * active
    assert session.paused_total == cycles * paused
    assert session.pause_count == cycles
    assert session.ends_at == now + (PLANNED - cycles * active)
    assert session.version == 1 + 2 * cycles


def test_an_hour_long_pause_does_not_consume_the_session(clock: FakeClock) -> None:
    session = start(clock)
    clock.advance(minutes=10)
    session = timer.pause(session, clock.now())
    left = PLANNED - timedelta(minutes=10)
    assert session.paused_remaining == left
    assert session.ends_at is None

    clock.advance(hours=1)
    assert timer.remaining(session, clock.now()) == left
    assert timer.focused(session, clock.now()) == timedelta(minutes=10)

    resumed_at = clock.now()
    session = timer.resume(session, resumed_at)
    assert session.status is Status.ACTIVE
    assert timer.remaining(session, resumed_at) == left
    assert session.ends_at == resumed_at + left
    assert session.paused_total == timedelta(hours=1)
    assert session.paused_at is None and session.paused_remaining is None


def test_focused_time_excludes_pauses_and_completion_keeps_it(clock: FakeClock) -> None:
    session = start(clock)
    clock.advance(minutes=5)
    session = timer.pause(session, clock.now())
    clock.advance(minutes=20)
    session = timer.resume(session, clock.now())
    clock.advance(minutes=5)
    assert timer.focused(session, clock.now()) == timedelta(minutes=10)

    done = timer.complete(session, clock.now())
    assert done.status is Status.COMPLETED
    assert done.completed_at == clock.now()
    assert done.focused == timedelta(minutes=10)
    assert done.ends_at == clock.now()  # finished early: the end moves to the finish
    clock.advance(hours=3)
    assert timer.focused(done, clock.now()) == timedelta(minutes=10)
    assert timer.remaining(done, clock.now()) == timedelta(0)


def test_remaining_is_never_negative_and_focused_never_exceeds_the_target(
    clock: FakeClock,
) -> None:
    session = start(clock)
    clock.advance(hours=5)
    assert timer.remaining(session, clock.now()) == timedelta(0)
    assert timer.focused(session, clock.now()) == PLANNED


def test_each_transition_raises_the_version_and_stamps_the_instant(clock: FakeClock) -> None:
    session = start(clock)
    assert (session.version, session.started_at, session.ends_at) == (
        1,
        clock.now(),
        clock.now() + PLANNED,
    )
    clock.advance(60)
    paused = timer.pause(session, clock.now())
    assert (paused.version, paused.updated_at, paused.paused_at) == (2, clock.now(), clock.now())
    clock.advance(60)
    resumed = timer.resume(paused, clock.now())
    assert (resumed.version, resumed.updated_at) == (3, clock.now())


# -- extend ----------------------------------------------------------------------------------


def test_extend_adds_time_and_records_it(clock: FakeClock) -> None:
    session = start(clock)
    clock.advance(minutes=20)
    before = timer.remaining(session, clock.now())
    extra = timedelta(minutes=10)
    longer = timer.extend(session, extra, clock.now())
    assert longer.extended == extra
    assert longer.planned == PLANNED  # overtime is kept apart, not hidden in the plan
    assert longer.target == PLANNED + extra
    assert session.ends_at is not None
    assert longer.ends_at == session.ends_at + extra
    assert timer.remaining(longer, clock.now()) == before + extra

    twice = timer.extend(longer, extra, clock.now())
    assert twice.extended == 2 * extra


def test_extend_works_while_paused(clock: FakeClock) -> None:
    session = start(clock)
    clock.advance(minutes=24)
    paused = timer.pause(session, clock.now())
    extra = timedelta(minutes=5)
    longer = timer.extend(paused, extra, clock.now())
    assert longer.status is Status.PAUSED
    assert longer.extended == extra
    assert longer.paused_remaining == timedelta(minutes=1) + extra

    clock.advance(minutes=30)
    resumed = timer.resume(longer, clock.now())
    assert resumed.ends_at == clock.now() + timedelta(minutes=1) + extra
    clock.advance(minutes=6)
    done = timer.complete(resumed, clock.now())
    assert done.focused == PLANNED + extra


def test_extending_an_overdue_session_counts_from_now_and_records_the_overtime(
    clock: FakeClock,
) -> None:
    session = start(clock)
    assert session.ends_at is not None
    clock.advance(minutes=27)
    overdue = clock.now() - session.ends_at
    extra = timedelta(minutes=5)
    longer = timer.extend(session, extra, clock.now())
    assert longer.ends_at == clock.now() + extra
    assert longer.extended == extra + overdue
    assert timer.focused(longer, clock.now()) == clock.now() - session.started_at


@pytest.mark.parametrize("extra", [timedelta(0), timedelta(seconds=-1)])
def test_extend_refuses_a_non_positive_extension(clock: FakeClock, extra: timedelta) -> None:
    with pytest.raises(UsageError):
        timer.extend(start(clock), extra, clock.now())


# -- settling a session the clock overtook --------------------------------------------------


@pytest.mark.parametrize(
    "late",
    [timedelta(0), timedelta(seconds=1), PLANNED - timedelta(seconds=1), PLANNED],
    ids=["at-end", "1s-late", "just-inside", "exactly-at-grace-edge"],
)
def test_a_session_that_ran_out_within_the_grace_window_completes_at_its_end(
    clock: FakeClock, late: timedelta
) -> None:
    session = start(clock)
    assert session.ends_at is not None
    clock.set(session.ends_at + late)
    settled = timer.settle(session, clock.now(), MAX_PAUSE)
    assert settled.status is Status.COMPLETED
    assert settled.completed_at == session.ends_at
    assert settled.ended_at == session.ends_at
    assert settled.focused == PLANNED


@pytest.mark.parametrize(
    "late", [PLANNED + timedelta(microseconds=1), PLANNED + timedelta(seconds=1), 10 * PLANNED]
)
def test_a_session_found_beyond_the_grace_window_expires(clock: FakeClock, late: timedelta) -> None:
    session = start(clock)
    assert session.ends_at is not None
    clock.set(session.ends_at + late)
    settled = timer.settle(session, clock.now(), MAX_PAUSE)
    assert settled.status is Status.EXPIRED
    assert settled.completed_at is None
    assert settled.expired_at == session.ends_at
    assert settled.xp_awarded == 0 and settled.coins_awarded == 0


def test_the_grace_window_is_one_planned_duration_even_after_an_extension(
    clock: FakeClock,
) -> None:
    extra = timedelta(minutes=10)
    session = timer.extend(start(clock), extra, clock.now())
    assert session.ends_at is not None
    clock.set(session.ends_at + PLANNED)
    assert timer.settle(session, clock.now(), MAX_PAUSE).status is Status.COMPLETED
    clock.advance(seconds=1)
    assert timer.settle(session, clock.now(), MAX_PAUSE).status is Status.EXPIRED


def test_an_unknown_sleep_policy_is_refused_even_with_nothing_to_record(
    clock: FakeClock,
) -> None:
    session = start(clock)
    with pytest.raises(UsageError):
        timer.record_sleep(session, clock.now(), clock.now(), "snooze")


def test_a_session_still_running_is_left_unchanged(clock: FakeClock) -> None:
    session = start(clock)
    clock.advance(minutes=24, seconds=59)
    assert timer.settle(session, clock.now(), MAX_PAUSE) is session


def test_settling_after_pauses_completes_at_the_shifted_end(clock: FakeClock) -> None:
    session = start(clock)
    clock.advance(minutes=5)
    session = timer.pause(session, clock.now())
    clock.advance(minutes=10)
    session = timer.resume(session, clock.now())
    expected_end = clock.now() + PLANNED - timedelta(minutes=5)
    clock.set(expected_end + timedelta(minutes=3))
    settled = timer.settle(session, clock.now(), MAX_PAUSE)
    assert settled.status is Status.COMPLETED
    assert settled.completed_at == expected_end
    assert settled.focused == PLANNED
    assert settled.paused_total == timedelta(minutes=10)


def test_a_session_paused_longer_than_max_pause_expires_when_the_limit_ran_out(
    clock: FakeClock,
) -> None:
    session = start(clock)
    clock.advance(minutes=7)
    paused = timer.pause(session, clock.now())
    paused_at = clock.now()

    clock.set(paused_at + MAX_PAUSE)  # exactly the limit: not longer than it yet
    assert timer.settle(paused, clock.now(), MAX_PAUSE) is paused

    clock.set(paused_at + MAX_PAUSE + timedelta(seconds=1))
    expired = timer.settle(paused, clock.now(), MAX_PAUSE)
    assert expired.status is Status.EXPIRED
    assert expired.expired_at == paused_at + MAX_PAUSE
    assert expired.focused == timedelta(minutes=7)
    assert expired.paused_total == MAX_PAUSE
    assert expired.paused_at is None and expired.paused_remaining is None


def test_settle_leaves_finished_sessions_alone(clock: FakeClock) -> None:
    done = timer.complete(start(clock), clock.now())
    clock.advance(hours=10)
    assert timer.settle(done, clock.now(), MAX_PAUSE) is done


async def test_service_rewards_a_session_settled_within_grace_and_not_one_beyond(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    first = await service.start(minutes=25)
    assert first.ends_at is not None
    clock.set(first.ends_at + PLANNED)  # the last instant of the grace window
    done = await service.settle()
    assert done is not None and done.status is Status.COMPLETED
    assert done.completed_at == first.ends_at
    expected = reward_for(Mode.FOCUS, int(PLANNED.total_seconds()))
    assert (done.xp_awarded, done.coins_awarded) == (expected.xp, expected.coins)
    assert await repo.total_xp() == expected.xp

    second = await service.start(minutes=25)
    assert second.ends_at is not None
    clock.set(second.ends_at + PLANNED + timedelta(seconds=1))
    gone = await service.settle()
    assert gone is not None and gone.status is Status.EXPIRED
    assert (gone.xp_awarded, gone.coins_awarded) == (0, 0)
    assert await repo.total_xp() == expected.xp  # nothing added for the expired one


# -- refused transitions and naive instants --------------------------------------------------


def _paused(clock: FakeClock) -> Session:
    return timer.pause(start(clock), clock.now())


def _completed(clock: FakeClock) -> Session:
    return timer.complete(start(clock), clock.now())


def _abandoned(clock: FakeClock) -> Session:
    return timer.abandon(start(clock), clock.now())


def _expired(clock: FakeClock) -> Session:
    session = start(clock)
    return timer.settle(session, clock.now() + 3 * PLANNED, MAX_PAUSE)


@pytest.mark.parametrize(
    ("make", "action"),
    [
        (_paused, "pause"),
        (start, "resume"),
        (_completed, "complete"),
        (_completed, "pause"),
        (_completed, "resume"),
        (_completed, "abandon"),
        (_completed, "extend"),
        (_abandoned, "complete"),
        (_abandoned, "abandon"),
        (_expired, "complete"),
        (_expired, "resume"),
    ],
)
def test_invalid_transitions_are_refused(
    clock: FakeClock, make: Callable[[FakeClock], Session], action: str
) -> None:
    session = make(clock)
    now = clock.now()
    calls = {
        "pause": lambda: timer.pause(session, now),
        "resume": lambda: timer.resume(session, now),
        "complete": lambda: timer.complete(session, now),
        "abandon": lambda: timer.abandon(session, now),
        "extend": lambda: timer.extend(session, timedelta(minutes=1), now),
    }
    with pytest.raises(RefusedError) as caught:
        calls[action]()
    assert caught.value.exit_code == 1


def test_naive_datetimes_are_refused(clock: FakeClock) -> None:
    naive = datetime(2026, 3, 2, 9, 30)
    session = start(clock)
    paused = timer.pause(session, clock.now())
    with pytest.raises(ValueError, match="timezone-aware"):
        timer.new_session(
            session_id=uuid.uuid4(),
            user_id=uuid.uuid4(),
            client_id=uuid.uuid4(),
            mode=Mode.FOCUS,
            planned=PLANNED,
            now=naive,
        )
    calls: list[Callable[[], Session]] = [
        lambda: timer.pause(session, naive),
        lambda: timer.resume(paused, naive),
        lambda: timer.extend(session, timedelta(minutes=1), naive),
        lambda: timer.complete(session, naive),
        lambda: timer.abandon(session, naive),
        lambda: timer.settle(session, naive, MAX_PAUSE),
        lambda: timer.record_sleep(session, clock.now(), naive, "pause"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


def test_new_session_refuses_a_non_positive_duration(clock: FakeClock) -> None:
    with pytest.raises(UsageError):
        start(clock, planned=timedelta(0))


def test_abandon_keeps_the_time_spent_and_a_clean_reason(clock: FakeClock) -> None:
    session = start(clock)
    clock.advance(minutes=3)
    gone = timer.abandon(session, clock.now(), "  phone   call ")
    assert gone.status is Status.ABANDONED
    assert gone.abandoned_at == clock.now()
    assert gone.focused == timedelta(minutes=3)
    assert gone.abandon_reason == "phone call"


# -- input validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "minutes", [0, -0.0, -1, -0.5, math.nan, math.inf, -math.inf, 1440.01, 1441, 1e-3]
)
def test_validate_minutes_rejects_out_of_range_values(minutes: float) -> None:
    with pytest.raises(UsageError) as caught:
        timer.validate_minutes(minutes)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("minutes", "seconds"), [(25, 1500), (0.5, 30), (1440, 86400), (0.01, 1), (1.25, 75)]
)
def test_validate_minutes_gives_whole_seconds(minutes: float, seconds: int) -> None:
    assert timer.validate_minutes(minutes) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, None),
        ("", None),
        ("   \t\n ", None),
        ("  Write   the\treport \n", "Write the report"),
        ("Ünïcode ✓", "Ünïcode ✓"),
    ],
)
def test_normalize_task(raw: str | None, clean: str | None) -> None:
    assert timer.normalize_task(raw) == clean


def test_normalize_task_limits_the_length_after_collapsing_spaces() -> None:
    assert timer.normalize_task("x" * timer.MAX_TITLE) == "x" * timer.MAX_TITLE
    assert timer.normalize_task(" " * 50 + "x" * timer.MAX_TITLE) == "x" * timer.MAX_TITLE
    with pytest.raises(UsageError):
        timer.normalize_task("x" * (timer.MAX_TITLE + 1))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (None, ()),
        ([], ()),
        (["Deep", "#work", "deep", "WORK"], ("deep", "work")),
        (["a, b,,#C", " #a "], ("a", "b", "c")),
        (["", " ", "#", ","], ()),
        (("x",) * 40, ("x",)),
    ],
)
def test_normalize_tags(raw: list[str] | tuple[str, ...] | None, clean: tuple[str, ...]) -> None:
    assert timer.normalize_tags(raw) == clean


@pytest.mark.parametrize(
    "raw",
    [
        ["two words"],
        ["x" * (timer.MAX_TAG_LEN + 1)],
        [f"t{i}" for i in range(timer.MAX_TAGS + 1)],
    ],
)
def test_normalize_tags_refuses_bad_tags(raw: list[str]) -> None:
    with pytest.raises(UsageError):
        timer.normalize_tags(raw)


def test_normalize_tags_allows_the_maximum() -> None:
    tags = [f"t{i}" for i in range(timer.MAX_TAGS)]
    assert timer.normalize_tags(tags) == tuple(tags)
    assert timer.normalize_tags(["x" * timer.MAX_TAG_LEN]) == ("x" * timer.MAX_TAG_LEN,)


# -- sleep and suspend -----------------------------------------------------------------------


def test_sleep_with_pause_policy_pauses_at_the_moment_the_machine_slept(
    clock: FakeClock,
) -> None:
    session = start(clock)
    slept_from = clock.advance(minutes=10)
    woke_at = clock.advance(hours=1)
    after = timer.record_sleep(session, slept_from, woke_at, "pause")
    assert after.status is Status.PAUSED
    assert after.paused_at == slept_from
    assert after.paused_remaining == PLANNED - timedelta(minutes=10)
    assert after.slept == woke_at - slept_from
    assert after.pause_count == session.pause_count + 1
    assert timer.focused(after, woke_at) == timedelta(minutes=10)

    resumed = timer.resume(after, woke_at)
    assert resumed.ends_at == woke_at + PLANNED - timedelta(minutes=10)
    assert resumed.paused_total == woke_at - slept_from


def test_sleep_with_count_policy_keeps_the_time_running(clock: FakeClock) -> None:
    session = start(clock)
    slept_from = clock.advance(minutes=10)
    woke_at = clock.advance(minutes=5)
    after = timer.record_sleep(session, slept_from, woke_at, "count")
    assert after.status is Status.ACTIVE
    assert after.ends_at == session.ends_at
    assert after.slept == woke_at - slept_from
    assert after.pause_count == 0
    assert timer.focused(after, woke_at) == woke_at - session.started_at
    assert timer.remaining(after, woke_at) == PLANNED - (woke_at - session.started_at)


def test_sleep_while_paused_is_recorded_and_stays_paused(clock: FakeClock) -> None:
    paused = timer.pause(start(clock), clock.advance(minutes=4))
    slept_from = clock.advance(minutes=1)
    woke_at = clock.advance(minutes=30)
    for policy in ("pause", "count"):
        after = timer.record_sleep(paused, slept_from, woke_at, policy)
        assert after.status is Status.PAUSED
        assert after.paused_at == paused.paused_at
        assert after.paused_remaining == paused.paused_remaining
        assert after.slept == woke_at - slept_from


def test_sleeps_add_up(clock: FakeClock) -> None:
    session = start(clock)
    first = (clock.advance(minutes=1), clock.advance(minutes=2))
    session = timer.record_sleep(session, *first, "count")
    second = (clock.advance(minutes=1), clock.advance(minutes=3))
    session = timer.record_sleep(session, *second, "count")
    assert session.slept == (first[1] - first[0]) + (second[1] - second[0])


def test_sleep_that_changes_nothing_returns_the_session(clock: FakeClock) -> None:
    session = start(clock)
    now = clock.now()
    assert timer.record_sleep(session, now, now, "pause") is session
    done = timer.complete(session, now)
    assert timer.record_sleep(done, now, now + timedelta(hours=1), "pause") is done


def test_unknown_sleep_policy_is_a_usage_error(clock: FakeClock) -> None:
    session = start(clock)
    with pytest.raises(UsageError):
        timer.record_sleep(session, clock.now(), clock.now() + timedelta(minutes=5), "snooze")


# -- clocks ----------------------------------------------------------------------------------


def test_fake_clock_moves_only_when_told() -> None:
    origin = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    fake = FakeClock(origin)
    assert fake.now() == fake.now() == origin
    assert fake.advance(1.5) == origin + timedelta(seconds=1.5)
    assert fake.advance(minutes=2, hours=1) == origin + timedelta(hours=1, minutes=2, seconds=1.5)
    later = origin + timedelta(days=3)
    fake.set(later)
    assert fake.now() == later
    with pytest.raises(ValueError):
        FakeClock(datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError):
        fake.set(datetime(2026, 3, 2, 9, 0))


def test_scaled_clock_runs_faster_from_its_base() -> None:
    origin = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    scaled = ScaledClock(1000, base=FakeClock(origin))
    first = scaled.now()
    second = scaled.now()
    assert first.tzinfo is not None
    assert origin <= first <= second
    for bad in (0, -1):
        with pytest.raises(ValueError):
            ScaledClock(bad)
