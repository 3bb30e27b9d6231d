"""Streaks by local calendar day, including days around daylight-saving changes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.models import Mode, Session, Status, Streak
from app.domain.rewards import day_runs, streak_for, streak_from_runs
from app.domain.rollup import local_day, rollup_entries
from app.services import FocusService

D = date(2026, 3, 2)


def days(*offsets: int) -> list[date]:
    return [D + timedelta(days=o) for o in offsets]


# -- the pure rule ---------------------------------------------------------------------------


def test_no_days_no_streak() -> None:
    assert streak_for([], D) == Streak(current=0, longest=0, last_day=None)
    assert day_runs([]) == (0, None, 0)


def test_consecutive_days_ending_today() -> None:
    run = days(0, 1, 2, 3)
    assert streak_for(run, run[-1]) == Streak(current=4, longest=4, last_day=run[-1])


def test_current_streak_still_counts_the_day_after() -> None:
    run = days(0, 1, 2)
    tomorrow = run[-1] + timedelta(days=1)
    assert streak_for(run, tomorrow) == Streak(current=3, longest=3, last_day=run[-1])


def test_current_streak_is_lost_after_a_missed_day_but_longest_is_kept() -> None:
    run = days(0, 1, 2)
    later = run[-1] + timedelta(days=2)
    assert streak_for(run, later) == Streak(current=0, longest=3, last_day=run[-1])


def test_a_gap_breaks_the_current_streak() -> None:
    history = days(0, 1, 2, 4, 5)
    today = history[-1]
    assert streak_for(history, today) == Streak(current=2, longest=3, last_day=today)
    assert day_runs(history) == (3, today, 2)


def test_longest_streak_is_kept_from_an_older_run() -> None:
    history = days(0, 1, 2, 3, 4, 10, 20, 21)
    assert streak_for(history, history[-1]) == Streak(current=2, longest=5, last_day=history[-1])


def test_order_and_repeats_do_not_matter() -> None:
    history = days(3, 0, 1, 1, 2, 3, 0)
    assert streak_for(history, D + timedelta(days=3)) == Streak(
        current=4, longest=4, last_day=D + timedelta(days=3)
    )


@pytest.mark.parametrize(
    "first",
    [date(2026, 1, 30), date(2026, 12, 30), date(2028, 2, 27), date(2027, 2, 27)],
    ids=["month-end", "year-end", "leap-february", "common-february"],
)
def test_runs_cross_month_year_and_leap_day_boundaries(first: date) -> None:
    run = [first + timedelta(days=i) for i in range(4)]
    assert streak_for(run, run[-1]) == Streak(current=4, longest=4, last_day=run[-1])


def test_streak_from_runs_matches_the_definition() -> None:
    last = D + timedelta(days=10)
    assert streak_from_runs(7, last, 2, last) == Streak(current=2, longest=7, last_day=last)
    assert streak_from_runs(7, last, 2, last + timedelta(days=1)).current == 2
    assert streak_from_runs(7, last, 2, last + timedelta(days=2)).current == 0
    assert streak_from_runs(0, None, 0, last) == Streak()


# -- local days around daylight-saving changes -----------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")  # 2026-03-08 02:00 EST -> 03:00 EDT (UTC-5 -> UTC-4)
BERLIN = ZoneInfo("Europe/Berlin")  # 2026-10-25 03:00 CEST -> 02:00 CET (UTC+2 -> UTC+1)

# (UTC instant, local wall time there, local calendar day), offsets worked out by hand.
NEW_YORK_ENDS = [
    (datetime(2026, 3, 8, 4, 30, tzinfo=UTC), "23:30", date(2026, 3, 7)),  # EST
    (datetime(2026, 3, 8, 5, 30, tzinfo=UTC), "00:30", date(2026, 3, 8)),  # EST, before the change
    (datetime(2026, 3, 9, 3, 30, tzinfo=UTC), "23:30", date(2026, 3, 8)),  # EDT
    (datetime(2026, 3, 9, 4, 30, tzinfo=UTC), "00:30", date(2026, 3, 9)),  # EDT (EST: Mar 8)
]
BERLIN_ENDS = [
    (datetime(2026, 10, 24, 21, 30, tzinfo=UTC), "23:30", date(2026, 10, 24)),  # CEST
    (datetime(2026, 10, 24, 22, 30, tzinfo=UTC), "00:30", date(2026, 10, 25)),  # CEST
    (datetime(2026, 10, 25, 22, 30, tzinfo=UTC), "23:30", date(2026, 10, 25)),  # CET (CEST: 26th)
    (datetime(2026, 10, 25, 23, 30, tzinfo=UTC), "00:30", date(2026, 10, 26)),  # CET
]
CASES = [(NEW_YORK, NEW_YORK_ENDS), (BERLIN, BERLIN_ENDS)]
IDS = ["new-york-spring-forward", "berlin-fall-back"]


@pytest.mark.parametrize(("zone", "ends"), CASES, ids=IDS)
def test_instants_map_to_the_local_day_across_a_dst_change(
    zone: ZoneInfo, ends: list[tuple[datetime, str, date]]
) -> None:
    for instant, wall, day in ends:
        assert f"{instant.astimezone(zone):%H:%M}" == wall
        assert local_day(instant, zone) == day
    local_days = [local_day(instant, zone) for instant, _, _ in ends]
    expected_days = sorted({day for _, _, day in ends})
    assert len(expected_days) == 3
    assert streak_for(local_days, expected_days[-1]) == Streak(3, 3, expected_days[-1])


def _completed_at(instant: datetime) -> Session:
    planned = timedelta(minutes=25)
    return Session(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        mode=Mode.FOCUS,
        status=Status.COMPLETED,
        planned=planned,
        started_at=instant - planned,
        ends_at=instant,
        focused=planned,
        completed_at=instant,
        xp_awarded=25,
        coins_awarded=5,
    )


@pytest.mark.parametrize(("zone", "ends"), CASES, ids=IDS)
def test_a_session_counts_on_the_local_day_it_ended(
    zone: ZoneInfo, ends: list[tuple[datetime, str, date]]
) -> None:
    for instant, _, day in ends:
        rows = rollup_entries(_completed_at(instant), zone)
        assert [key for dim, key, _, _ in rows if dim == "day"] == [day.isoformat()]


@pytest.mark.parametrize(("zone", "ends"), CASES, ids=IDS)
async def test_service_streak_across_a_dst_change(
    service: FocusService,
    clock: FakeClock,
    zone: ZoneInfo,
    ends: list[tuple[datetime, str, date]],
) -> None:
    planned = timedelta(minutes=25)
    for end, _, _ in ends:
        clock.set(end - planned)
        await service.start(Mode.FOCUS, minutes=planned.total_seconds() / 60)
        clock.set(end)
        done = await service.settle()
        assert done is not None and done.status is Status.COMPLETED
        assert done.completed_at == end

    expected_days = sorted({day for _, _, day in ends})
    stats = await service.stats()
    assert service.today() == expected_days[-1]
    assert stats.streak == Streak(current=3, longest=3, last_day=expected_days[-1])
    per_day = {day: sum(1 for _, _, d in ends if d == day) for day in expected_days}
    assert {day: b.completed for day, b in stats.by_day.items()} == per_day


def test_consecutive_days_are_calendar_days_of_the_zone() -> None:
    """Pacific/Apia skipped 2011-12-30; Pacific/Kwajalein skipped 1993-08-21."""
    from zoneinfo import ZoneInfo

    from app.domain.rewards import next_day, previous_day

    apia, kwaj = ZoneInfo("Pacific/Apia"), ZoneInfo("Pacific/Kwajalein")
    assert next_day(date(2011, 12, 29), apia) == date(2011, 12, 31)
    assert previous_day(date(2011, 12, 31), apia) == date(2011, 12, 29)
    assert next_day(date(1993, 8, 20), kwaj) == date(1993, 8, 22)
    days = [date(2011, 12, 28), date(2011, 12, 29), date(2011, 12, 31), date(2012, 1, 1)]
    assert streak_for(days, date(2012, 1, 1), apia).current == 4
    assert streak_for(days, date(2012, 1, 1)).current == 2  # plain date arithmetic
    # On 12-31 in Apia, "yesterday" was 12-29: the run is still current.
    assert streak_for(days[:2], date(2011, 12, 31), apia).current == 2
    # DST days (23 and 25 hours long) are ordinary days.
    berlin = ZoneInfo("Europe/Berlin")
    assert next_day(date(2026, 3, 28), berlin) == date(2026, 3, 29)
    assert next_day(date(2026, 10, 24), berlin) == date(2026, 10, 25)
    assert next_day(date(2026, 10, 25), berlin) == date(2026, 10, 26)
