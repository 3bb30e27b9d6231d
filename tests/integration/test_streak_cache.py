"""The streak cache kept beside the day rollups agrees with the pure streak rule."""

from __future__ import annotations

import random
from datetime import date, timedelta

from app.clock import FakeClock
from app.domain.rewards import day_runs, streak_for
from app.services import FocusService
from storage.local import rebuild_cache
from storage.sql import SqlRepository


async def _focus_on(service: FocusService, clock: FakeClock, day: date) -> None:
    clock.set(clock.now().replace(year=day.year, month=day.month, day=day.day, hour=9))
    await service.start(minutes=25)
    clock.advance(minutes=25)
    await service.settle()


async def test_consecutive_days_extend_and_a_gap_restarts_the_run(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    first = clock.now().date()
    for offset in (0, 1, 2, 4, 5):
        await _focus_on(service, clock, first + timedelta(days=offset))
    assert await repo.focus_day_runs() == (3, first + timedelta(days=5), 2)
    stats = await service.stats()
    assert (stats.streak.current, stats.streak.longest) == (2, 3)


async def test_a_day_completed_out_of_order_recounts_the_runs(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    first = clock.now().date()
    for offset in (0, 2):
        await _focus_on(service, clock, first + timedelta(days=offset))
    assert await repo.focus_day_runs() == (1, first + timedelta(days=2), 1)
    # The missing day arrives late (clock set back, as a synced device's history would).
    await _focus_on(service, clock, first + timedelta(days=1))
    assert await repo.focus_day_runs() == (3, first + timedelta(days=2), 3)


async def test_unrewarded_focus_does_not_count_for_the_streak(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    await service.start(minutes=25)
    clock.advance(seconds=59)
    await service.complete()  # under a minute: no reward, no streak day
    assert await repo.focus_day_runs() == (0, None, 0)


async def test_random_days_match_the_rule_and_survive_a_rebuild(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    rng = random.Random(3)
    first = clock.now().date()
    days = sorted({first + timedelta(days=rng.randrange(40)) for _ in range(25)})
    shuffled = days[:]
    rng.shuffle(shuffled)
    for day in shuffled:
        await _focus_on(service, clock, day)
    assert await repo.focus_day_runs() == day_runs(days)
    await rebuild_cache(repo)
    assert await repo.focus_day_runs() == day_runs(days)
    today = max(days) + timedelta(days=1)
    assert streak_for(days, today).current == day_runs(days)[2]
