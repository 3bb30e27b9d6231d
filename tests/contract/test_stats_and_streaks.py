"""Stats and streaks on both stores: the stats cache (rollups) and the streak cache always
equal a recount from the sessions, and XP, coins and level a recount from the ledger,
whatever zones and processes wrote them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import FocusError
from app.domain.models import Bucket, Mode, Status
from app.domain.rewards import day_runs, streak_for
from app.services import FocusService, TimerRules
from storage.local import rebuild_cache
from storage.sql import SqlRepository
from tests.contract.conftest import RepoFactory
from tests.contract.helpers import a_week, cached, ledger_totals, recount

UTC_ZONE, TOKYO, APIA = ZoneInfo("UTC"), ZoneInfo("Asia/Tokyo"), ZoneInfo("Pacific/Apia")


# -- stats ---------------------------------------------------------------------------------


async def test_stats_today_week_tasks_tags_and_completion_rate(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    await a_week(service, clock)
    st = await service.stats()
    m = 60
    assert st.today == Bucket(completed=1, focused_seconds=25 * m, xp=25, coins=5)
    # Week from Monday 2 March: Essay 25, Code abandoned, Code 40, break, Code expired, 25.
    assert st.week == Bucket(
        completed=4, abandoned=1, expired=1, focused_seconds=90 * m, xp=92, coins=18
    )
    assert st.total == Bucket(
        completed=5, abandoned=1, expired=1, focused_seconds=110 * m, xp=112, coins=22
    )
    assert st.focus == Bucket(
        completed=4, abandoned=1, expired=1, focused_seconds=110 * m, xp=110, coins=22
    )
    assert st.total.completion_rate == pytest.approx(5 / 7)
    assert st.week.completion_rate == pytest.approx(4 / 6)
    # The focus-only slices leave the break (2 xp) out of the week.
    assert st.today_focus == st.today
    assert st.week_focus == Bucket(
        completed=3, abandoned=1, expired=1, focused_seconds=90 * m, xp=90, coins=18
    )
    assert st.by_task == [
        ("Essay", Bucket(completed=2, focused_seconds=45 * m, xp=45, coins=9)),
        (
            "Code",
            Bucket(completed=1, abandoned=1, expired=1, focused_seconds=40 * m, xp=40, coins=8),
        ),
    ]
    assert st.by_tag == [
        (
            "deep",
            Bucket(completed=2, abandoned=1, expired=1, focused_seconds=65 * m, xp=65, coins=13),
        ),
        ("writing", Bucket(completed=2, focused_seconds=45 * m, xp=45, coins=9)),
    ]
    assert st.abandon_reasons == [("meeting", 1)]
    assert (st.level.level, st.level.total_xp, st.coins) == (2, 112, 22)
    assert await ledger_totals(repo) == (112, 22)
    assert (st.streak.current, st.streak.longest, st.streak.last_day) == (4, 4, date(2026, 3, 4))
    assert {d.isoformat(): b.focused_seconds for d, b in st.by_day.items()} == {
        "2026-03-01": 20 * m,
        "2026-03-02": 25 * m,
        "2026-03-03": 40 * m,
        "2026-03-04": 25 * m,
    }
    assert await cached(repo) == await recount(repo, UTC_ZONE)
    # A day later nothing new happened today; the streak still counts (yesterday).
    clock.set(datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
    later = await service.stats()
    assert later.today == Bucket() and later.today.completion_rate is None
    assert later.streak.current == 4
    clock.set(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))  # next Monday: a new week, streak lost
    later = await service.stats()
    assert later.week == Bucket()
    assert (later.streak.current, later.streak.longest) == (0, 4)


@pytest.mark.parametrize(("week_start", "week_days"), [(0, 2), (6, 3), (1, 1)])
async def test_the_week_starts_on_the_configured_day(
    repo: SqlRepository, clock: FakeClock, week_start: int, week_days: int
) -> None:
    """Sessions on Sunday 03-01, Monday 03-02 and Tuesday 03-03 (today): the week holds the
    days from the configured first day on."""
    clock.set(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    service = FocusService(repo, clock, UTC_ZONE, TimerRules(week_start=week_start))
    for _ in range(3):
        await service.start(minutes=25)
        clock.advance(minutes=25)
        await service.complete()
        clock.advance(days=1, minutes=-25)
    clock.advance(days=-1)
    assert (await service.stats()).week_focus.completed == week_days


@pytest.mark.parametrize("seed", range(6))
async def test_stats_equal_a_recount_after_any_mix_of_actions_zones_and_opens(
    open_store: RepoFactory, clock: FakeClock, seed: int
) -> None:
    rng = random.Random(seed)
    clock.set(datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    zones = [UTC_ZONE, TOKYO, APIA, ZoneInfo("America/Los_Angeles")]
    repos = [
        await open_store(rng.choice(zones), zone_configured=rng.random() < 0.5) for _ in range(3)
    ]
    for _ in range(60):
        repo = rng.choice(repos)
        service = FocusService(repo, clock, repo.zone)
        action = rng.choice(["start", "pause", "resume", "complete", "abandon", "reopen", "tick"])
        try:
            if action == "start":
                mode = rng.choice(list(Mode))
                await service.start(
                    mode,
                    rng.choice([0.5, 5, 25]),
                    task=rng.choice(["a", "b", None]),
                    tags=rng.sample(["x", "y", "z"], rng.randrange(3)),
                    force=True,
                )
            elif action == "pause":
                await service.pause()
            elif action == "resume":
                await service.resume()
            elif action == "complete":
                await service.complete()
            elif action == "abandon":
                await service.abandon(rng.choice([None, "call"]))
            elif action == "reopen":
                i = repos.index(repo)
                await repo.close()
                repos[i] = await open_store(rng.choice(zones), zone_configured=rng.random() < 0.5)
            else:
                await service.status()
        except FocusError:
            pass
        clock.advance(minutes=rng.choice([1, 7, 30, 180, 600]))
    check = repos[0]
    zone = await check.filing_zone()
    await FocusService(check, clock, zone).status()  # settle what ran out
    assert await cached(check) == await recount(check, zone)
    xp, coins = await ledger_totals(check)
    stats = await FocusService(check, clock, zone).stats()
    assert (stats.level.total_xp, stats.coins) == (xp, coins)
    days = [
        s.ended_at.astimezone(zone).date()
        async for s in check.iter_sessions()
        if s.mode is Mode.FOCUS and s.status is Status.COMPLETED and s.xp_awarded > 0 and s.ended_at
    ]
    today = clock.now().astimezone(zone).date()
    assert stats.streak == streak_for(days, today)


# -- streaks -------------------------------------------------------------------------------


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
    done = await service.start(minutes=25)
    clock.advance(seconds=59)
    await service.complete()  # under a minute: no reward, no streak day
    stored = await repo.get_session(done.id)
    assert stored is not None and stored.status is Status.COMPLETED
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


async def test_a_day_the_zone_skipped_does_not_break_a_streak(
    open_store: RepoFactory, clock: FakeClock
) -> None:
    """Pacific/Apia went from 2011-12-29 straight to 12-31: focus on 12-28, 12-29, 12-31 and
    2012-01-01 is a four-day streak, in the cache kept as days are added and after a
    recount from scratch."""
    clock.set(datetime(2011, 12, 27, 20, 0, tzinfo=UTC))
    repo = await open_store(APIA)
    service = FocusService(repo, clock, APIA)
    for day in ("2011-12-28", "2011-12-29", "2011-12-31", "2012-01-01"):
        local_nine = datetime.fromisoformat(f"{day}T09:00").replace(tzinfo=APIA)
        clock.set(local_nine.astimezone(UTC))
        await service.start(minutes=25)
        clock.advance(minutes=25)
        done = await service.complete()
    assert done.streak.current == 4
    assert (await service.stats()).streak.current == 4
    await rebuild_cache(repo)
    stats = await service.stats()
    assert (stats.streak.current, stats.streak.longest) == (4, 4)
