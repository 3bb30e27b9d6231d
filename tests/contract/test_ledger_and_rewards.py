"""Rewards and the append-only ledger on both stores: what each mode pays, levels, and an
idempotency key that pays once, whatever replays the completion."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest

from app.clock import FakeClock
from app.domain.errors import StorageError
from app.domain.models import LedgerEntry, Mode, Status
from app.services import FocusService
from storage.sql import SqlRepository
from tests.contract.helpers import ledger, rows


async def test_crossing_a_hundred_xp_levels_up(
    service: FocusService, clock: FakeClock, repo: SqlRepository
) -> None:
    results = []
    for _ in range(4):
        await service.start(minutes=30)
        clock.advance(minutes=25)
        results.append(await service.complete())
        clock.advance(minutes=5)
    assert [r.level.total_xp for r in results] == [25, 50, 75, 100]
    assert [r.leveled_up for r in results] == [False, False, False, True]
    assert results[-1].level.level == 2
    assert sum(xp for _, xp, _, _ in await ledger(repo)) == 100
    assert await repo.total_xp() == 100


@pytest.mark.parametrize(
    ("mode", "minutes", "focused_seconds", "xp", "coins"),
    [
        (Mode.FOCUS, 25, 59, 0, 0),  # under a minute: no start/complete farming
        (Mode.FOCUS, 25, 60, 5, 2),  # the minimums
        (Mode.FOCUS, 60, 50 * 60, 50, 10),
        (Mode.SHORT_BREAK, 5, 4 * 60, 2, 0),
        (Mode.SHORT_BREAK, 5, 30, 0, 0),
        (Mode.LONG_BREAK, 15, 14 * 60, 3, 1),
    ],
)
async def test_rewards_per_mode_and_nothing_under_a_minute(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    mode: Mode,
    minutes: int,
    focused_seconds: int,
    xp: int,
    coins: int,
) -> None:
    await service.start(mode=mode, minutes=minutes)
    clock.advance(seconds=focused_seconds)
    done = await service.complete()
    assert (done.session.xp_awarded, done.session.coins_awarded) == (xp, coins)
    found = await ledger(repo)
    if xp or coins:
        assert found == [
            (f"{mode.value}_complete:{done.session.id}", xp, coins, f"{mode.value}_complete")
        ]
    else:
        assert found == []  # no zero rows in the ledger
    stats = await service.stats()
    short = int(mode is Mode.FOCUS and focused_seconds < 60)  # too short to count: apart
    assert (stats.total.xp, stats.coins) == (xp, coins)
    assert (stats.total.completed, stats.total.too_short) == (1 - short, short)


async def test_a_ledger_idempotency_key_pays_only_once(
    service: FocusService, repo: SqlRepository, clock: FakeClock, backend: str
) -> None:
    await service.start(minutes=25)
    clock.advance(minutes=24)
    done = (await service.complete()).session
    key = f"focus_complete:{done.id}"
    ledger_sql = (
        "SELECT id, idempotency_key, xp, coins, change_stamp FROM ledger WHERE user_id = :uid"
    )
    ledger_before = await rows(repo, ledger_sql)
    pending_before = await repo.pending_changes()
    async with repo.transaction() as tx:
        again = await tx.add_ledger(
            LedgerEntry(uuid.uuid4(), repo.identity.user_id, key, done.id, 99, 99, "x", clock.now())
        )
        await tx.commit()
    assert again is False
    assert await rows(repo, ledger_sql) == ledger_before  # not added, not re-stamped
    assert await repo.pending_changes() == pending_before  # nothing to sync either

    # The database itself refuses a second row with the key (a plain INSERT, no ON CONFLICT).
    async with repo.transaction() as tx:
        with pytest.raises(repo.conn.integrity_errors):
            await tx.conn.execute(
                "INSERT INTO ledger (id, user_id, idempotency_key, session_id, xp, coins, "
                "reason, created_at) VALUES (:id, :uid, :key, NULL, 1, 1, 'x', :at)",
                {
                    "id": tx.conn.value(uuid.uuid4()),
                    "uid": tx.conn.value(repo.identity.user_id),
                    "key": key,
                    "at": tx.conn.value(clock.now()),
                },
            )
    assert await rows(repo, ledger_sql) == ledger_before

    # The same session brought back open (as a replayed change would) and completed again:
    # the ledger refuses the second award and the session records no reward. The shared
    # server refuses the reopening itself: a finished session stays as it finished.
    reopened = replace(
        done,
        status=Status.ACTIVE,
        completed_at=None,
        ends_at=clock.now() + timedelta(minutes=5),
        version=done.version + 1,
    )
    if backend == "postgres":
        with pytest.raises(StorageError, match="stays as it finished"):
            async with repo.transaction() as tx:
                await tx.update_session(done, reopened)
                await tx.commit()
        assert await repo.get_session(done.id) == done
        return
    async with repo.transaction() as tx:
        await tx.update_session(done, reopened)
        await tx.commit()
    assert await repo.open_session() == reopened
    clock.advance(minutes=3)
    second = await service.complete()
    assert second.session.id == done.id
    assert (second.session.xp_awarded, second.session.coins_awarded) == (0, 0)
    assert await ledger(repo) == [(key, 24, 4, "focus_complete")]
    assert await repo.total_xp() == 24
