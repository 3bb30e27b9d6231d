"""A flow is one transaction on both stores: a failure before its commit leaves nothing
behind (no session change, no ledger row, no stats, nothing recorded for other devices),
reports no event then or later, and the same flow then goes through whole."""

from __future__ import annotations

from typing import Any

import pytest

from app.clock import FakeClock
from app.services import FocusService
from storage.sql import SqlRepository, SqlTransaction
from tests.contract.conftest import Count, Mark
from tests.contract.helpers import ledger

Events = list[tuple[str, dict[str, Any]]]


async def test_a_failure_before_commit_leaves_session_ledger_and_changes_untouched(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    written: Mark,
    changes: Count,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = await service.start(minutes=25)
    clock.advance(minutes=20)
    recorded, mark = await changes(repo), await written(repo)
    original = SqlTransaction.commit

    async def crash_before_commit(self: SqlTransaction) -> None:
        await self.recorder.finish(self)
        raise RuntimeError("power cut")

    monkeypatch.setattr(SqlTransaction, "commit", crash_before_commit)
    with pytest.raises(RuntimeError, match="power cut"):
        await service.complete()
    monkeypatch.setattr(SqlTransaction, "commit", original)

    assert await written(repo) == mark  # nothing at all reached the store
    assert await changes(repo) == recorded
    assert await ledger(repo) == []
    assert await repo.get_session(started.id) == started
    assert await repo.open_session() == started
    assert await repo.total_xp() == 0
    assert await repo.rollups("all") == []
    # And the same action then goes through whole.
    done = await service.complete()
    assert done.session.xp_awarded == 20
    assert await ledger(repo) == [(f"focus_complete:{started.id}", 20, 4, "focus_complete")]
    assert await changes(repo) > recorded
    assert await repo.total_xp() == 20


async def test_a_failed_transaction_emits_nothing_then_or_later(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    events: Events,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = await service.start(minutes=25)
    clock.advance(minutes=10)
    original = SqlTransaction.commit

    async def fail(self: SqlTransaction) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(SqlTransaction, "commit", fail)
    with pytest.raises(RuntimeError):
        await service.complete()
    with pytest.raises(RuntimeError):
        await service.start(minutes=5, force=True)
    monkeypatch.setattr(SqlTransaction, "commit", original)
    assert [e for e, _ in events] == ["start"]
    assert await repo.open_session() == started
    assert [s.id for s in await repo.history(10)] == [started.id]  # no second session
    await service.pause()
    # The completion and the abandon that never happened are not reported afterwards.
    assert [e for e, _ in events] == ["start", "pause"]
