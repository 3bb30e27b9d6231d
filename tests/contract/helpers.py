"""What the contract tests read from a store and the flows they share, the same on both
stores: queries go through the repository's own connection (`:name` parameters), so on
Postgres they run as the user, under row-level security."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, tzinfo
from typing import Any

from app.clock import FakeClock
from app.domain.models import Bucket, Mode, Session
from app.domain.rollup import rollup_entries
from app.services import FocusService
from storage.codec import session_to_row
from storage.sql import SqlRepository


def as_uuid(value: Any) -> uuid.UUID:
    """A UUID as either driver returns it (SQLite: hex text; asyncpg: its own UUID type)."""
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


async def rows(repo: SqlRepository, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """`sql` on the repository's connection; `:uid` is the repository's user."""
    values = {k: repo.conn.value(v) for k, v in params.items()}
    values["uid"] = repo.conn.value(repo.identity.user_id)
    return [tuple(r) for r in await repo.conn.fetch(sql, values)]


async def ledger(repo: SqlRepository) -> list[tuple[Any, ...]]:
    """The user's ledger rows: (idempotency_key, xp, coins, reason), oldest first."""
    return await rows(
        repo,
        "SELECT idempotency_key, xp, coins, reason FROM ledger WHERE user_id = :uid "
        "ORDER BY created_at, idempotency_key",
    )


async def ledger_totals(repo: SqlRepository) -> tuple[int, int]:
    found = await rows(
        repo,
        "SELECT coalesce(sum(xp), 0), coalesce(sum(coins), 0) FROM ledger WHERE user_id = :uid",
    )
    return int(found[0][0]), int(found[0][1])


async def day_keys(repo: SqlRepository) -> set[str]:
    return {row.key for row in await repo.rollups("day")}


async def insert_raw(repo: SqlRepository, session: Session) -> None:
    """Insert a session row with a plain INSERT in a write transaction of its own: no
    repository check in the way, only the database's constraints."""
    async with repo.transaction() as tx:
        row = {k: tx.conn.value(v) for k, v in session_to_row(session).items()}
        columns = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        await tx.conn.execute(f"INSERT INTO sessions ({columns}) VALUES ({marks})", row)
        await tx.commit()


async def recount(repo: SqlRepository, zone: tzinfo) -> dict[tuple[str, str, str], Bucket]:
    """The stats cache as it should be: recounted from the sessions."""
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    async for s in repo.iter_sessions():
        for dim, key, mode, counts in rollup_entries(s, zone):
            totals[(dim, key, mode)] += counts
    return dict(totals)


async def cached(repo: SqlRepository) -> dict[tuple[str, str, str], Bucket]:
    """The stats cache as stored."""
    out: dict[tuple[str, str, str], Bucket] = {}
    for dim in ("all", "day", "task", "tag", "reason", "short"):
        for row in await repo.rollups(dim):
            out[(row.dim, row.key, row.mode.value)] = row.counts
    return out


async def finish(
    service: FocusService,
    clock: FakeClock,
    at: datetime,
    *,
    mode: Mode = Mode.FOCUS,
    minutes: float,
    work: float,
    task: str | None = None,
    tags: tuple[str, ...] = (),
    how: str = "complete",
) -> Session:
    """A session started at `at` and, `work` minutes later, completed, abandoned
    ("meeting") or left for the clock to settle."""
    clock.set(at)
    s = await service.start(mode=mode, minutes=minutes, task=task, tags=tags)
    clock.advance(minutes=work)
    if how == "complete":
        return (await service.complete()).session
    if how == "abandon":
        return await service.abandon("meeting")
    await service.status()  # let the clock settle it
    found = await service.repo.get_session(s.id)
    assert found is not None
    return found


async def a_week(service: FocusService, clock: FakeClock) -> list[Session]:
    """Sunday (last week) to Wednesday 2026-03-04; the clock ends on Wednesday 09:30."""

    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 3, day, hour, 0, tzinfo=UTC)

    return [
        await finish(
            service, clock, at(1, 20), minutes=30, work=20, task="Essay", tags=("writing",)
        ),
        await finish(
            service, clock, at(2, 9), minutes=30, work=25, task="Essay", tags=("writing", "deep")
        ),
        await finish(
            service,
            clock,
            at(2, 10),
            minutes=30,
            work=10,
            task="Code",
            tags=("deep",),
            how="abandon",
        ),
        await finish(service, clock, at(3, 9), minutes=50, work=40, task="Code", tags=("deep",)),
        await finish(service, clock, at(3, 10), mode=Mode.SHORT_BREAK, minutes=5, work=4),
        # Ends 11:25, grace until 11:50: found at 12:00, it expires (on Tuesday).
        await finish(
            service,
            clock,
            at(3, 11),
            minutes=25,
            work=60,
            task="Code",
            tags=("deep",),
            how="settle",
        ),
        # Ends 09:25, found at 09:30: completed at its end with the full reward.
        await finish(service, clock, at(4, 9), minutes=25, work=30, how="settle"),
    ]
