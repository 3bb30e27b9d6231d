"""The Postgres unit of work: how many round trips an action costs, and what happens when
another process writes between an action's reads and its one-statement write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import ChangedError
from app.domain.models import Status
from app.services import FocusService
from storage import pg_unit
from storage.postgres import open_pg_repository
from storage.sql import SqlRepository
from tests.conftest import UserFactory

pytestmark = pytest.mark.postgres
UTC = ZoneInfo("UTC")


@pytest.fixture
async def user_url(pg_user: UserFactory) -> str:
    return str((await pg_user())["sync_url"])


@pytest.fixture
async def repos(user_url: str) -> AsyncIterator[list[SqlRepository]]:
    opened = [await open_pg_repository(user_url, UTC) for _ in range(2)]
    yield opened
    for repo in opened:
        await repo.close()


def statements(repo: SqlRepository) -> list[str]:
    sent: list[str] = []
    repo.conn.raw.add_query_logger(lambda record: sent.append(record.query))  # type: ignore[attr-defined]
    return sent


async def settled(sent: list[str]) -> list[str]:
    await asyncio.sleep(0.05)  # the logger is called after each statement returns
    return list(sent)


async def test_round_trips_per_action(repos: list[SqlRepository], clock: FakeClock) -> None:
    repo = repos[0]
    service = FocusService(repo, clock, UTC)
    await service.start(minutes=25)  # a first completion, so the day is not new below
    clock.advance(minutes=25)
    await service.complete()
    sent = statements(repo)
    counts: dict[str, int] = {}
    for name, action in (
        ("start", lambda: service.start(minutes=25, task="t", tags=["x"])),
        ("pause", service.pause),
        ("resume", service.resume),
        ("complete", service.complete),
    ):
        clock.advance(minutes=5)
        await settled(sent)
        sent.clear()
        await action()
        counts[name] = len(await settled(sent))
    assert counts == {"start": 1, "pause": 2, "resume": 2, "complete": 2}
    assert not any(q.strip().upper().startswith(("BEGIN", "COMMIT")) for q in sent)


async def test_a_write_after_the_reads_makes_the_action_run_again(
    repos: list[SqlRepository], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Process B pauses the session between A's reads and A's write: A's write is refused
    whole (no half-applied completion) and A runs again on what B wrote."""
    a, b = repos
    service_a, service_b = FocusService(a, clock, UTC), FocusService(b, clock, UTC)
    started = await service_a.start(minutes=25)
    clock.advance(minutes=20)
    refused: list[ChangedError] = []
    original = pg_unit.LazyTx._send
    interfered = False

    async def send(self: pg_unit.LazyTx, bump: bool) -> list[int]:
        nonlocal interfered
        if not interfered and self.inner is a.conn:
            interfered = True
            await service_b.pause()  # commits before A's write arrives
        try:
            return await original(self, bump)
        except ChangedError as exc:
            refused.append(exc)
            raise

    monkeypatch.setattr(pg_unit.LazyTx, "_send", send)
    done = await service_a.complete()
    assert len(refused) == 1
    # The second run read B's pause: the completion counts the time up to the pause.
    assert done.session.status is Status.COMPLETED and done.session.pause_count == 1
    stored = await b.get_session(started.id)
    assert stored == done.session
    assert await b.total_xp() == done.session.xp_awarded == 20
    ledger = await b.conn.fetch(
        "SELECT xp FROM ledger WHERE user_id = :uid", {"uid": b.identity.user_id}
    )
    assert [int(r[0]) for r in ledger] == [20]


async def test_an_action_that_keeps_losing_says_so_and_writes_nothing(
    repos: list[SqlRepository], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = repos
    service_a, service_b = FocusService(a, clock, UTC), FocusService(b, clock, UTC)
    started = await service_a.start(minutes=25)
    original = pg_unit.LazyTx._send

    async def send(self: pg_unit.LazyTx, bump: bool) -> Any:
        if self.inner is a.conn:
            await service_b.extend(1)  # another write lands every time
        return await original(self, bump)

    monkeypatch.setattr(pg_unit.LazyTx, "_send", send)
    with pytest.raises(ChangedError, match="changed elsewhere"):
        await service_a.pause()
    stored = await b.get_session(started.id)
    assert stored is not None and stored.status is Status.ACTIVE
    assert stored.extended.total_seconds() == 3 * 60  # three runs, three of B's writes
