"""The stats cache is filed in one recorded zone per user, on both stores: a configured
zone that differs re-files it (once), an unconfigured process zone never does, and a
completion is filed in the zone the last re-file recorded, whichever process wrote it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.services import FocusService
from storage.sql import SqlRepository
from tests.contract.conftest import Mark, RepoFactory
from tests.contract.helpers import cached, day_keys, finish, recount

UTC_ZONE, TOKYO = ZoneInfo("UTC"), ZoneInfo("Asia/Tokyo")


async def test_stats_days_follow_the_configured_time_zone(
    repo: SqlRepository, clock: FakeClock, open_store: RepoFactory
) -> None:
    # 23:30 UTC on Monday is already Tuesday in Tokyo.
    utc = FocusService(repo, clock, UTC_ZONE)
    await finish(utc, clock, datetime(2026, 3, 2, 23, 0, tzinfo=UTC), minutes=40, work=30)
    assert [d.isoformat() for d in (await utc.stats()).by_day] == ["2026-03-02"]
    reopened = await open_store(TOKYO)  # a configured zone that differs: re-files the cache
    st = await FocusService(reopened, clock, TOKYO).stats()
    assert [d.isoformat() for d in st.by_day] == ["2026-03-03"]
    assert st.today.completed == 1  # it is Tuesday 08:30 in Tokyo
    assert st.streak.last_day == date(2026, 3, 3)
    assert await day_keys(reopened) == {"2026-03-03"}
    assert await cached(reopened) == await recount(reopened, TOKYO)
    # The first process sees the re-filed cache too: the zone is the store's, not its own.
    assert await repo.filing_zone() == TOKYO
    assert [d.isoformat() for d in (await utc.stats()).by_day] == ["2026-03-03"]


async def test_a_completion_is_filed_in_the_zone_recorded_by_the_last_refile(
    open_store: RepoFactory, clock: FakeClock
) -> None:
    """A opens with UTC, B re-files in Tokyo, A completes at 20:00 UTC (05:00 next day in
    Tokyo): the day is Tokyo's, and reopening with Tokyo repairs nothing because nothing is
    wrong."""
    clock.set(datetime(2026, 3, 3, 19, 35, tzinfo=UTC))
    a = await open_store(UTC_ZONE)
    service = FocusService(a, clock, UTC_ZONE)
    await service.start(minutes=25)
    b = await open_store(TOKYO)
    await b.close()
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    await service.complete()
    assert (await service.stats()).today_focus.completed == 1  # Tokyo's 03-04 is today
    assert await day_keys(a) == {"2026-03-04"}
    await a.close()
    again = await open_store(TOKYO)
    assert await day_keys(again) == {"2026-03-04"}
    assert await cached(again) == await recount(again, TOKYO)


async def test_without_a_configured_zone_another_tz_never_refiles(
    open_store: RepoFactory, clock: FakeClock, written: Mark
) -> None:
    """No zone configured: the zone recorded first wins over a process's TZ (a cron job, a
    hook, another shell), and such an open writes nothing."""
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    first = await open_store(UTC_ZONE, zone_configured=False)
    service = FocusService(first, clock, UTC_ZONE)
    await service.start(minutes=25)
    clock.advance(minutes=25)
    await service.complete()
    await first.close()
    before = await written(first)
    other = await open_store(TOKYO, zone_configured=False)
    assert other.zone == UTC_ZONE
    stats = await FocusService(other, clock, TOKYO).stats()
    assert stats.today_focus.completed == 1  # today in the recorded zone: 03-03
    assert await day_keys(other) == {"2026-03-03"}
    await other.close()
    assert await written(other) == before


async def test_a_configured_zone_change_refiles_once(
    open_store: RepoFactory, clock: FakeClock, written: Mark
) -> None:
    repo = await open_store(UTC_ZONE)
    service = FocusService(repo, clock, UTC_ZONE)
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    await service.start(minutes=25)
    clock.advance(minutes=25)
    await service.complete()
    assert await day_keys(repo) == {"2026-03-03"}
    await repo.close()
    tokyo = await open_store(TOKYO)
    assert await day_keys(tokyo) == {"2026-03-04"}
    await tokyo.close()
    before = await written(tokyo)
    again = await open_store(TOKYO)  # the same zone: no second re-file
    assert again.zone == TOKYO
    assert await day_keys(again) == {"2026-03-04"}
    await again.close()
    assert await written(again) == before


async def test_a_refile_reads_a_long_history_in_pages_and_counts_every_session(
    repo: SqlRepository, clock: FakeClock, open_store: RepoFactory, monkeypatch: Any
) -> None:
    """Re-filing pages through the history (no one read of it whole): with pages of 3, ten
    finished sessions (two pairs started at the same instant, so a page can end inside a
    tie) are each counted once, and the cache equals a recount."""
    import storage.filing

    monkeypatch.setattr(storage.filing, "REFILE_PAGE", 3)
    service = FocusService(repo, clock, UTC_ZONE)
    for day in range(1, 9):
        await finish(service, clock, datetime(2026, 3, day, 22, 0, tzinfo=UTC), minutes=30, work=25)
    for _ in range(2):  # two sessions started at the very same instant
        clock.set(datetime(2026, 3, 9, 23, 50, tzinfo=UTC))
        await service.start(minutes=20, task="tie")
        await service.abandon("tied")
    await repo.close()
    tokyo = await open_store(TOKYO)
    cache = await cached(tokyo)
    assert cache == await recount(tokyo, TOKYO)
    stats = await FocusService(tokyo, clock, TOKYO).stats()
    assert (stats.total.completed, stats.total.abandoned) == (8, 2)
    # 22:00 UTC is the next morning in Tokyo: every completion moved a day on.
    assert await day_keys(tokyo) == {f"2026-03-{d:02d}" for d in range(2, 11)}
