"""The Repository on SQLAlchemy async Core; one implementation for SQLite and Postgres."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, timedelta, tzinfo
from typing import Any

from sqlalchemy import Select, bindparam, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.domain.errors import RefusedError
from app.domain.models import Bucket, LedgerEntry, Mode, Session, Status
from app.domain.rewards import day_runs
from app.domain.rollup import rollup_entries
from storage.codec import ledger_to_row, session_from_row, session_to_row, to_payload
from storage.repository import Cursor, Identity, RollupRow
from storage.schema import OPEN, ledger, outbox, rollups, sessions, streak_cache

_BUCKET_COLS = ("completed", "abandoned", "expired", "focused_seconds", "xp", "coins")


def _insert(dialect: str, table: Any) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def _bucket(row: Any) -> Bucket:
    return Bucket(*(int(getattr(row, c) or 0) for c in _BUCKET_COLS))


# Statements are built once and run with parameters: building one per call costs more
# Python time than SQLite spends executing it.
_UID: Any = bindparam("uid")
OPEN_SESSION = select(sessions).where(
    sessions.c.user_id == _UID,
    sessions.c.client_id == bindparam("cid"),
    # Spelled exactly as the partial index's WHERE, so SQLite can use that index (bound
    # parameters would hide the match and scan the user's whole history).
    text(OPEN),
)
GET_SESSION = select(sessions).where(sessions.c.user_id == _UID, sessions.c.id == bindparam("sid"))
TOTAL_XP = select(func.coalesce(func.sum(rollups.c.xp), 0)).where(
    rollups.c.user_id == _UID, rollups.c.dim == "all"
)
REWARDED_FOCUS_DAYS = select(rollups.c.key).where(
    rollups.c.user_id == _UID,
    rollups.c.dim == "day",
    rollups.c.mode == Mode.FOCUS.value,
    rollups.c.xp > 0,  # a rewarded focus session (a minute or more) keeps a streak
)
DAY_XP = select(rollups.c.xp).where(
    rollups.c.user_id == _UID,
    rollups.c.dim == "day",
    rollups.c.mode == Mode.FOCUS.value,
    rollups.c.key == bindparam("day"),
)
STREAK = select(streak_cache.c.longest, streak_cache.c.last_day, streak_cache.c.last_run).where(
    streak_cache.c.user_id == _UID
)


def _runs(row: Any) -> tuple[int, date | None, int]:
    if row is None or row.last_day is None:
        return 0, None, 0
    return int(row.longest), date.fromisoformat(row.last_day), int(row.last_run)


async def store_runs(
    conn: AsyncConnection, user_id: uuid.UUID, runs: tuple[int, date | None, int]
) -> None:
    longest, last_day, last_run = runs
    values = {
        "longest": longest,
        "last_day": last_day.isoformat() if last_day else None,
        "last_run": last_run,
    }
    stmt = _insert(conn.dialect.name, streak_cache).values(user_id=user_id, **values)
    await conn.execute(stmt.on_conflict_do_update(index_elements=["user_id"], set_=values))


async def recount_streak(conn: AsyncConnection, user_id: uuid.UUID) -> tuple[int, date | None, int]:
    """Rebuild the streak cache from the day rollups (after an out-of-order day or a rebuild)."""
    keys = (await conn.execute(REWARDED_FOCUS_DAYS, {"uid": user_id})).scalars().all()
    runs = day_runs(date.fromisoformat(k) for k in keys)
    await store_runs(conn, user_id, runs)
    return runs


# SET gets every column named in the parameters; the guard makes a lost update impossible.
UPDATE_SESSION = sessions.update().where(
    sessions.c.user_id == bindparam("w_user_id"),
    sessions.c.id == bindparam("w_id"),
    sessions.c.version == bindparam("w_version"),
)
_DIALECT_STATEMENTS: dict[str, tuple[Any, Any]] = {}


def _dialect_statements(dialect: str) -> tuple[Any, Any]:
    """(ledger insert-if-new, rollup add-to) for this dialect, built once."""
    if dialect not in _DIALECT_STATEMENTS:
        add_ledger = _insert(dialect, ledger).on_conflict_do_nothing(
            index_elements=["user_id", "idempotency_key"]
        )
        roll = _insert(dialect, rollups)
        add_rollup = roll.on_conflict_do_update(
            index_elements=["user_id", "dim", "mode", "key"],
            set_={c: getattr(rollups.c, c) + getattr(roll.excluded, c) for c in _BUCKET_COLS},
        )
        _DIALECT_STATEMENTS[dialect] = (add_ledger, add_rollup)
    return _DIALECT_STATEMENTS[dialect]


class _Reads:
    """Parameters shared by a write transaction and the repository's read connections."""

    identity: Identity

    @property
    def _me(self) -> dict[str, Any]:
        return {"uid": self.identity.user_id, "cid": self.identity.client_id}


class SqlTransaction(_Reads):
    def __init__(self, conn: AsyncConnection, identity: Identity, zone: tzinfo) -> None:
        self.conn = conn
        self.identity = identity
        self.zone = zone
        self.committed = False
        self._outbox: list[dict[str, Any]] = []
        self._streak: tuple[int, date | None, int] | None = None
        self._add_ledger, self._add_rollup = _dialect_statements(conn.dialect.name)

    async def _one(self, query: Any, params: dict[str, Any]) -> Session | None:
        row = (await self.conn.execute(query, params)).mappings().first()
        return session_from_row(dict(row)) if row else None

    async def open_session(self) -> Session | None:
        return await self._one(OPEN_SESSION, self._me)

    async def get_session(self, session_id: uuid.UUID) -> Session | None:
        return await self._one(GET_SESSION, self._me | {"sid": session_id})

    def _outbox_row(self, entity: str, entity_id: uuid.UUID, version: int, row: Any) -> Any:
        return {
            "user_id": self.identity.user_id,
            "client_id": self.identity.client_id,
            "entity": entity,
            "entity_id": entity_id,
            "version": version,
            "payload": to_payload(row),
            "created_at": row.get("updated_at") or row["created_at"],
        }

    async def insert_session(self, session: Session) -> None:
        row = session_to_row(session)
        try:
            await self.conn.execute(sessions.insert(), row)
        except IntegrityError as exc:
            raise RefusedError("a session is already open on this device") from exc
        self._outbox.append(self._outbox_row("session", session.id, session.version, row))

    async def update_session(self, before: Session, after: Session) -> None:
        if after.version <= before.version:
            raise ValueError("a change must raise the version")
        row = session_to_row(after)
        params = {k: v for k, v in row.items() if k not in ("id", "user_id")}
        params |= {"w_user_id": self.identity.user_id, "w_id": after.id}
        result = await self.conn.execute(UPDATE_SESSION, params | {"w_version": before.version})
        if result.rowcount != 1:
            raise RefusedError("the session was changed elsewhere; try again")
        self._outbox.append(self._outbox_row("session", after.id, after.version, row))
        if before.status.is_open and after.status.is_terminal:
            await self._add_rollups(after)

    async def _add_rollups(self, session: Session) -> None:
        entries = rollup_entries(session, self.zone)
        values = [
            {"user_id": session.user_id, "dim": d, "key": k, "mode": m}
            | {c: getattr(b, c) for c in _BUCKET_COLS}
            for d, k, m, b in entries
        ]
        new_day = None
        if session.mode is Mode.FOCUS and session.xp_awarded > 0:
            day = next(k for d, k, _, _ in entries if d == "day")
            before = (await self.conn.execute(DAY_XP, self._me | {"day": day})).scalar()
            new_day = None if before else date.fromisoformat(day)
        if values:
            await self.conn.execute(self._add_rollup, values)
        if new_day is not None:
            await self._add_streak_day(new_day)

    async def _add_streak_day(self, day: date) -> None:
        """A day just got its first rewarded focus session: extend the runs in O(1)."""
        longest, last_day, last_run = _runs((await self.conn.execute(STREAK, self._me)).first())
        if last_day is None or day <= last_day:
            # The first day ever, or a day from the past (synced, or a late completion): recount.
            self._streak = await recount_streak(self.conn, self.identity.user_id)
            return
        last_run = last_run + 1 if day - last_day == timedelta(days=1) else 1
        self._streak = (max(longest, last_run), day, last_run)
        await store_runs(self.conn, self.identity.user_id, self._streak)

    async def add_ledger(self, entry: LedgerEntry) -> bool:
        row = ledger_to_row(entry)
        result = await self.conn.execute(self._add_ledger, row)
        if result.rowcount != 1:
            return False
        self._outbox.append(self._outbox_row("ledger", entry.id, 1, row))
        return True

    async def total_xp(self) -> int:
        return int((await self.conn.execute(TOTAL_XP, self._me)).scalar_one())

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        if self._streak is None:
            self._streak = _runs((await self.conn.execute(STREAK, self._me)).first())
        return self._streak

    async def commit(self) -> None:
        # The outbox rows of this action go in one statement, in the order they happened.
        if self._outbox:
            await self.conn.execute(outbox.insert(), self._outbox)
            self._outbox.clear()
        await self.conn.commit()
        self.committed = True


class SqlRepository(_Reads):
    """Writes run in `BEGIN IMMEDIATE` on SQLite (see `storage.sqlite`), reads in plain ones."""

    def __init__(self, engine: AsyncEngine, identity: Identity, zone: tzinfo) -> None:
        self.engine = engine
        self.identity = identity
        self.zone = zone

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(focus_write=True)
            await conn.begin()
            tx = SqlTransaction(conn, self.identity, self.zone)
            try:
                yield tx
            finally:
                if not tx.committed:
                    await conn.rollback()

    async def _fetch_sessions(
        self, query: Any, params: dict[str, Any] | None = None
    ) -> list[Session]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query, params)).mappings().all()
        return [session_from_row(dict(r)) for r in rows]

    async def _scalar(self, query: Any, params: dict[str, Any] | None = None) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(query, params)).scalar_one()

    async def open_session(self) -> Session | None:
        found = await self._fetch_sessions(OPEN_SESSION, self._me)
        return found[0] if found else None

    async def get_session(self, session_id: uuid.UUID) -> Session | None:
        found = await self._fetch_sessions(GET_SESSION, self._me | {"sid": session_id})
        return found[0] if found else None

    def _history_query(
        self,
        limit: int,
        before: Cursor | None,
        statuses: Sequence[Status] = (),
        modes: Sequence[Mode] = (),
    ) -> Select[Any]:
        query = select(sessions).where(sessions.c.user_id == self.identity.user_id)
        if before is not None:
            # A row-value comparison: both SQLite and Postgres seek the history index with it.
            query = query.where(
                tuple_(sessions.c.started_at, sessions.c.id) < tuple_(before.started_at, before.id)
            )
        if statuses:
            query = query.where(sessions.c.status.in_([s.value for s in statuses]))
        if modes:
            query = query.where(sessions.c.mode.in_([m.value for m in modes]))
        return query.order_by(sessions.c.started_at.desc(), sessions.c.id.desc()).limit(limit)

    async def history(
        self,
        limit: int,
        before: Cursor | None = None,
        statuses: tuple[Status, ...] = (),
        modes: tuple[Mode, ...] = (),
    ) -> list[Session]:
        return await self._fetch_sessions(self._history_query(limit, before, statuses, modes))

    async def iter_sessions(self, page_size: int = 1000) -> AsyncIterator[Session]:
        cursor: Cursor | None = None
        while True:
            page = await self.history(page_size, cursor)
            for session in page:
                yield session
            if len(page) < page_size:
                return
            cursor = Cursor(page[-1].started_at, page[-1].id)

    async def rollups(self, dim: str, since_key: str | None = None) -> list[RollupRow]:
        query = select(rollups).where(
            rollups.c.user_id == self.identity.user_id, rollups.c.dim == dim
        )
        if since_key is not None:
            query = query.where(rollups.c.key >= since_key)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [RollupRow(r.dim, r.key, Mode(r.mode), _bucket(r)) for r in rows]

    async def top(self, dim: str, limit: int) -> list[tuple[str, Bucket]]:
        sums = [func.sum(getattr(rollups.c, c)).label(c) for c in _BUCKET_COLS]
        query = (
            select(rollups.c.key, *sums)
            .where(rollups.c.user_id == self.identity.user_id, rollups.c.dim == dim)
            .group_by(rollups.c.key)
            .order_by(
                func.sum(rollups.c.focused_seconds).desc(),
                func.sum(rollups.c.completed + rollups.c.abandoned).desc(),
                rollups.c.key,
            )
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [(r.key, _bucket(r)) for r in rows]

    async def totals_by_mode(self) -> dict[Mode, Bucket]:
        return {r.mode: r.counts for r in await self.rollups("all")}

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        async with self.engine.connect() as conn:
            return _runs((await conn.execute(STREAK, self._me)).first())

    async def total_xp(self) -> int:
        return int(await self._scalar(TOTAL_XP, self._me))

    async def pending_changes(self) -> int:
        query = select(func.count()).select_from(outbox)
        return int(await self._scalar(query.where(outbox.c.user_id == self.identity.user_id)))

    async def close(self) -> None:
        await self.engine.dispose()
