"""Writers racing on both stores (each repository a process of its own, as far as the store
can tell): concurrent starts leave one open session, concurrent completions pay once, and a
re-file of the stats cache racing a completion loses nothing."""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import RefusedError
from app.domain.models import Session, Status
from app.domain.rewards import level_for
from app.services import FocusService
from storage import filing
from storage.filing import rebuild_rollups, refile
from storage.sql import SqlRepository
from tests.contract.conftest import RepoFactory
from tests.contract.helpers import as_uuid, cached, ledger_totals, recount, rows

UTC_ZONE, TOKYO = ZoneInfo("UTC"), ZoneInfo("Asia/Tokyo")


@pytest.fixture
async def twins(open_store: RepoFactory, clock: FakeClock, zone: ZoneInfo) -> list[FocusService]:
    """Four repositories of the same user on the same store, each on connections of its own
    that never block the event loop (SQLite in a thread), so their transactions interleave."""
    return [FocusService(await open_store(zone, concurrent=True), clock, zone) for _ in range(4)]


def _repo(service: FocusService) -> SqlRepository:
    assert isinstance(service.repo, SqlRepository)
    return service.repo


async def test_concurrent_starts_leave_exactly_one_open_session(
    twins: list[FocusService],
) -> None:
    results = await asyncio.gather(
        *(s.start(minutes=25, task=f"writer {i}") for i, s in enumerate(twins)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Session)]
    losers = [r for r in results if not isinstance(r, Session)]
    assert len(winners) == 1
    assert len(losers) == len(twins) - 1
    assert all(isinstance(e, RefusedError) for e in losers), losers
    repo = _repo(twins[-1])
    stored = await rows(repo, "SELECT id, task_title, status FROM sessions WHERE user_id = :uid")
    assert [(as_uuid(i), t, s) for i, t, s in stored] == [
        (winners[0].id, winners[0].task_title, "active")
    ]
    for twin in twins:
        assert await twin.repo.open_session() == winners[0]


async def test_concurrent_completions_pay_once(twins: list[FocusService], clock: FakeClock) -> None:
    started = await twins[0].start(minutes=30)
    clock.advance(minutes=20)
    results = await asyncio.gather(*(s.complete() for s in twins), return_exceptions=True)
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(done) == 1, results
    assert all(isinstance(r, RefusedError) for r in results if isinstance(r, BaseException))
    assert done[0].session.xp_awarded == 20
    repo = _repo(twins[-1])
    paid = await rows(repo, "SELECT session_id, xp, coins FROM ledger WHERE user_id = :uid")
    assert [(as_uuid(s), xp, coins) for s, xp, coins in paid] == [(started.id, 20, 4)]
    stored = await repo.get_session(started.id)
    assert stored is not None and stored.status is Status.COMPLETED and stored.version == 2
    assert await repo.total_xp() == 20
    assert (await twins[1].stats()).total.completed == 1


async def test_a_refile_racing_a_completion_loses_no_xp(
    open_store: RepoFactory, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process B re-files the cache (another zone) while process A completes: the ledger's
    25 xp are in the totals afterwards, and level and stats agree with the ledger."""
    a = await open_store(UTC_ZONE, concurrent=True)
    b = await open_store(UTC_ZONE, concurrent=True)
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

    monkeypatch.setattr(filing, "rebuild_rollups", slow_rebuild)
    refiling = asyncio.create_task(refile(b, TOKYO))
    await reached.wait()
    completing = asyncio.create_task(service.complete())
    # SQLite: A waits for the write lock B holds. Postgres: A commits first, and B finds
    # the user's change stamp moved since it read, writes nothing and re-files again.
    await asyncio.sleep(0.3)
    gate.set()
    await refiling
    done = await completing
    assert done.session.xp_awarded == 25
    repo = await open_store(TOKYO)
    xp, coins = await ledger_totals(repo)
    assert xp == 25
    stats = await FocusService(repo, clock, TOKYO).stats()
    assert (stats.level.total_xp, stats.coins) == (xp, coins)
    assert stats.level == level_for(xp)
    assert await cached(repo) == await recount(repo, TOKYO)
