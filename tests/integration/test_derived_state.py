"""Derived state that stays right: XP, level and stats always equal a recount from the ledger
and the sessions, whatever zones and processes wrote them and however they interleave."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import FocusError
from app.domain.models import Bucket, Mode, Status
from app.domain.rewards import level_for, streak_for
from app.domain.rollup import rollup_entries
from app.services import FocusService
from storage import sql
from storage.local import open_repository, rebuild_cache
from storage.sql import SqlRepository, rebuild_rollups, refile

UTC_ZONE, TOKYO, APIA = ZoneInfo("UTC"), ZoneInfo("Asia/Tokyo"), ZoneInfo("Pacific/Apia")


def _ledger_totals(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        xp, coins = conn.execute(
            "SELECT coalesce(sum(xp), 0), coalesce(sum(coins), 0) FROM ledger"
        ).fetchone()
    finally:
        conn.close()
    return int(xp), int(coins)


def _day_keys(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT key FROM rollups WHERE dim = 'day'")}
    finally:
        conn.close()


async def _recount(repo: SqlRepository, zone: tzinfo) -> dict[tuple[str, str, str], Bucket]:
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    async for s in repo.iter_sessions():
        for dim, key, mode, counts in rollup_entries(s, zone):
            totals[(dim, key, mode)] += counts
    return dict(totals)


async def _cached(repo: SqlRepository) -> dict[tuple[str, str, str], Bucket]:
    out: dict[tuple[str, str, str], Bucket] = {}
    for dim in ("all", "day", "task", "tag", "reason"):
        for row in await repo.rollups(dim):
            out[(row.dim, row.key, row.mode.value)] = row.counts
    return out


async def test_a_refile_racing_a_completion_loses_no_xp(
    db_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process B re-files the cache (another zone) while process A completes: the ledger's
    25 xp are in the totals afterwards, and level and stats agree with the ledger."""
    a = await open_repository(db_path, UTC_ZONE, clock.now(), threaded=True)
    b = await open_repository(db_path, UTC_ZONE, clock.now(), threaded=True)
    service = FocusService(a, clock, UTC_ZONE)
    await service.start(minutes=25)
    clock.advance(minutes=25)

    reached, gate = asyncio.Event(), asyncio.Event()
    original = rebuild_rollups

    async def slow_rebuild(tx: Any) -> None:
        # Pause after the rebuild has taken its lock and before it reads and rewrites.
        reached.set()
        await gate.wait()
        await original(tx)

    monkeypatch.setattr(sql, "rebuild_rollups", slow_rebuild)
    try:
        refiling = asyncio.create_task(refile(b, TOKYO))
        await reached.wait()
        completing = asyncio.create_task(service.complete())
        await asyncio.sleep(0.3)  # A waits for the write lock B holds
        assert not completing.done()
        gate.set()
        await refiling
        done = await completing
    finally:
        await a.close()
        await b.close()
    assert done.session.xp_awarded == 25
    xp, coins = _ledger_totals(db_path)
    assert xp == 25
    repo = await open_repository(db_path, TOKYO, clock.now())
    try:
        stats = await FocusService(repo, clock, TOKYO).stats()
        assert (stats.level.total_xp, stats.coins) == (xp, coins)
        assert stats.level == level_for(xp)
        assert await _cached(repo) == await _recount(repo, TOKYO)
    finally:
        await repo.close()


async def test_a_completion_is_filed_in_the_zone_recorded_by_the_last_refile(
    db_path: Path, clock: FakeClock
) -> None:
    """A opens with UTC, B re-files in Tokyo, A completes at 20:00 UTC (05:00 next day in
    Tokyo): the day is Tokyo's, and reopening with Tokyo repairs nothing because nothing is
    wrong."""
    clock.set(datetime(2026, 3, 3, 19, 35, tzinfo=UTC))
    a = await open_repository(db_path, UTC_ZONE, clock.now())
    service = FocusService(a, clock, UTC_ZONE)
    await service.start(minutes=25)
    b = await open_repository(db_path, TOKYO, clock.now())
    await b.close()
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    await service.complete()
    assert (await service.stats()).today_focus.completed == 1  # Tokyo's 03-04 is today
    await a.close()
    assert _day_keys(db_path) == {"2026-03-04"}
    again = await open_repository(db_path, TOKYO, clock.now())
    try:
        assert await _cached(again) == await _recount(again, TOKYO)
    finally:
        await again.close()


async def test_without_a_configured_zone_another_tz_never_refiles(
    db_path: Path, clock: FakeClock
) -> None:
    """No zone configured: the zone recorded at creation wins over a process's TZ (a cron
    job, a hook, another shell), and such an open writes nothing."""
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    first = await open_repository(db_path, UTC_ZONE, clock.now(), zone_configured=False)
    service = FocusService(first, clock, UTC_ZONE)
    await service.start(minutes=25)
    clock.advance(minutes=25)
    await service.complete()
    await first.close()
    before = db_path.read_bytes()
    other = await open_repository(db_path, TOKYO, clock.now(), zone_configured=False)
    try:
        assert other.zone == UTC_ZONE
        stats = await FocusService(other, clock, TOKYO).stats()
        assert stats.today_focus.completed == 1  # today in the recorded zone: 03-03
    finally:
        await other.close()
    assert db_path.read_bytes() == before
    assert _day_keys(db_path) == {"2026-03-03"}


async def test_a_configured_zone_change_refiles_once(db_path: Path, clock: FakeClock) -> None:
    repo = await open_repository(db_path, UTC_ZONE, clock.now())
    service = FocusService(repo, clock, UTC_ZONE)
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    await service.start(minutes=25)
    clock.advance(minutes=25)
    await service.complete()
    await repo.close()
    assert _day_keys(db_path) == {"2026-03-03"}
    tokyo = await open_repository(db_path, TOKYO, clock.now())
    await tokyo.close()
    assert _day_keys(db_path) == {"2026-03-04"}
    stamp = db_path.read_bytes(), db_path.stat().st_mtime_ns
    again = await open_repository(db_path, TOKYO, clock.now())  # same zone: no second re-file
    await again.close()
    assert (db_path.read_bytes(), db_path.stat().st_mtime_ns) == stamp


@pytest.mark.parametrize("seed", range(6))
async def test_stats_equal_a_recount_after_any_mix_of_actions_zones_and_opens(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    path = tmp_path / "focus.db"
    clock = FakeClock(datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    zones = [UTC_ZONE, TOKYO, APIA, ZoneInfo("America/Los_Angeles")]
    repos = [
        await open_repository(
            path, rng.choice(zones), clock.now(), zone_configured=rng.random() < 0.5
        )
        for _ in range(3)
    ]
    try:
        for _ in range(60):
            repo = rng.choice(repos)
            service = FocusService(repo, clock, repo.zone)
            action = rng.choice(
                ["start", "pause", "resume", "complete", "abandon", "reopen", "tick"]
            )
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
                    repos[i] = await open_repository(
                        path, rng.choice(zones), clock.now(), zone_configured=rng.random() < 0.5
                    )
                else:
                    await service.status()
            except FocusError:
                pass
            clock.advance(minutes=rng.choice([1, 7, 30, 180, 600]))
        check = repos[0]
        zone = await check.filing_zone()
        await FocusService(check, clock, zone).status()  # settle what ran out
        assert await _cached(check) == await _recount(check, zone)
        xp, coins = _ledger_totals(path)
        stats = await FocusService(check, clock, zone).stats()
        assert (stats.level.total_xp, stats.coins) == (xp, coins)
        days = [
            s.ended_at.astimezone(zone).date()
            async for s in check.iter_sessions()
            if s.mode is Mode.FOCUS
            and s.status is Status.COMPLETED
            and s.xp_awarded > 0
            and s.ended_at
        ]
        today = clock.now().astimezone(zone).date()
        assert stats.streak == streak_for(days, today)
    finally:
        for r in repos:
            await r.close()


async def test_a_day_the_zone_skipped_does_not_break_a_streak(db_path: Path) -> None:
    """Pacific/Apia went from 2011-12-29 straight to 12-31: focus on 12-28, 12-29, 12-31 and
    2012-01-01 is a four-day streak, in the cache kept as days are added and after a
    recount from scratch."""
    clock = FakeClock(datetime(2011, 12, 27, 20, 0, tzinfo=UTC))
    repo = await open_repository(db_path, APIA, clock.now())
    service = FocusService(repo, clock, APIA)
    try:
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
    finally:
        await repo.close()


@pytest.mark.parametrize(("week_start", "week_days"), [(0, 2), (6, 3), (1, 1)])
async def test_the_week_starts_on_the_configured_day(
    db_path: Path, week_start: int, week_days: int
) -> None:
    """Sessions on Sunday 03-01, Monday 03-02 and Tuesday 03-03 (today): the week holds the
    days from the configured first day on."""
    from app.services import TimerRules

    clock = FakeClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    repo = await open_repository(db_path, UTC_ZONE, clock.now())
    service = FocusService(repo, clock, UTC_ZONE, TimerRules(week_start=week_start))
    try:
        for _ in range(3):
            await service.start(minutes=25)
            clock.advance(minutes=25)
            await service.complete()
            clock.advance(days=1, minutes=-25)
        clock.advance(days=-1)
        assert (await service.stats()).week_focus.completed == week_days
    finally:
        await repo.close()
