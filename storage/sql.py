"""The Repository in plain SQL over a small connection protocol, for SQLite and Postgres.

Reads go straight to the connection; writes go through a `SqlTransaction` (`storage.unit`),
the thin unit of work whose changes the store's `Recorder` records: outbox rows on a device
(`storage.outbox`), change stamps on Postgres (`storage.pg_unit`). The statements are the
shared ones of `storage.statements`; the schema is SQLAlchemy metadata (`storage.schema`),
migrated with Alembic.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime, tzinfo
from typing import Any

from app.domain.errors import FocusError, ReadOnlyError
from app.domain.models import Bucket, Mode, Session, Status
from storage.codec import SESSION_COLUMNS
from storage.repository import Cursor, Identity, RollupRow
from storage.statements import COLS, LAST_ENDED, OPEN, ROLLUP_SELECT, TOP
from storage.unit import (
    Conn,
    Reads,
    Recorder,
    Skipped,
    SqlTransaction,
    TxStart,
    bucket,
)

__all__ = ["Conn", "SqlRepository", "SqlTransaction", "TxStart"]


class _RawPosition:
    """The keyset position of a raw row, as stored (even a row that failed to decode)."""

    __slots__ = ("id_raw", "started_raw")

    def __init__(self, started_raw: Any, id_raw: Any) -> None:
        self.started_raw = started_raw
        self.id_raw = id_raw


_STARTED = SESSION_COLUMNS.index("started_at")


def _cursor_of(row: Sequence[Any]) -> _RawPosition:
    return _RawPosition(row[_STARTED], row[0])


class SqlRepository(Reads):
    """The store over one database: reads on `conn`, writes on a second, writable
    connection where `writer` is given (made only when something must be written)."""

    def __init__(
        self,
        conn: Conn,
        identity: Identity,
        zone: tzinfo,
        writer: Callable[[], Any] | None = None,
        concurrent: bool = False,
        recorder: Recorder | None = None,
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.zone = zone
        self.skipped = Skipped()
        if recorder is None:
            from storage.outbox import OutboxRecorder  # a device, unless told otherwise

            recorder = OutboxRecorder()
        self.recorder: Recorder = recorder
        self._make_writer = writer
        self._writer: Conn | None = None if writer else conn
        # One write transaction at a time on the writer connection where flows run
        # concurrently (the app's workers); inline, a flow never yields to another. The
        # database itself serializes writers across processes.
        self._write_lock: Any = _lock() if concurrent else contextlib.nullcontext()

    @property
    def where(self) -> str:
        return self.conn.where

    async def _write_conn(self) -> Conn:
        if self._writer is None:
            if self._make_writer is None:
                raise ReadOnlyError(f"the database {self.where} is opened read-only")
            self._writer = await self._make_writer()
        return self._writer

    @asynccontextmanager
    async def transaction(self, *, local: bool = True) -> AsyncIterator[SqlTransaction]:
        """A write transaction; `local=False` applies rows from elsewhere (no outbox)."""
        async with self._write_lock:
            conn = await self._write_conn()
            # The cache is filed in the zone recorded in the store, read under the write
            # lock: another process may have re-filed it since this one opened.
            start = await self.recorder.begin(conn, self.identity)
            self.zone = start.zone or self.zone
            tx = SqlTransaction(
                start.conn,
                self.identity,
                self.zone,
                self.skipped,
                self.recorder,
                start.stamp,
                local,
                start.zone_later,
            )
            try:
                yield tx
            finally:
                if not tx.committed:
                    with contextlib.suppress(FocusError):  # it may have rolled back itself
                        await start.conn.rollback()
            if tx.committed:
                self.zone = tx.zone

    async def filing_zone(self) -> tzinfo:
        self.zone = await self.recorder.recorded_zone(self.conn, self.identity) or self.zone
        return self.zone

    def _history_sql(
        self,
        before: Cursor | _RawPosition | None,
        statuses: Sequence[Status],
        modes: Sequence[Mode],
    ) -> tuple[str, dict[str, Any]]:
        where = ["user_id = :uid"]
        params: dict[str, Any] = {"uid": self.conn.value(self.identity.user_id)}
        if before is not None:
            # A row-value comparison: both SQLite and Postgres seek the history index with it.
            where.append("(started_at, id) < (:b_started, :b_id)")
            if isinstance(before, _RawPosition):
                params |= {"b_started": before.started_raw, "b_id": before.id_raw}
            else:
                v = self.conn.value
                params |= {"b_started": v(before.started_at), "b_id": v(before.id)}
        for name, values in (("status", statuses), ("mode", modes)):
            if values:
                keys = [f"{name}{i}" for i in range(len(values))]
                where.append(f"{name} IN ({', '.join(':' + k for k in keys)})")
                params |= {k: v.value for k, v in zip(keys, values, strict=True)}
        sql = (
            f"SELECT {COLS} FROM sessions WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC, id DESC LIMIT :limit"
        )
        return sql, params

    async def history(
        self,
        limit: int,
        before: Cursor | None = None,
        statuses: tuple[Status, ...] = (),
        modes: tuple[Mode, ...] = (),
    ) -> list[Session]:
        sql, params = self._history_sql(before, statuses, modes)
        rows = await self.conn.fetch(sql, params | {"limit": limit})
        return self.skipped.decode(self.conn, rows)

    async def history_page(
        self,
        limit: int,
        before: Cursor | None = None,
        statuses: tuple[Status, ...] = (),
        modes: tuple[Mode, ...] = (),
    ) -> tuple[list[Session], Session | None]:
        sql, params = self._history_sql(before, statuses, modes)
        # One round trip: the page, then this device's open session (to settle first).
        rows = await self.conn.fetch(
            f"SELECT 0 AS part, page.* FROM ({sql}) AS page UNION ALL "
            f"SELECT 1 AS part, {COLS} FROM sessions "
            f"WHERE user_id = :uid AND client_id = :cid AND {OPEN} "
            "ORDER BY part, started_at DESC, id DESC",
            params | self._me | {"limit": limit},
        )
        page = self.skipped.decode(self.conn, [r[1:] for r in rows if r[0] == 0])
        current = self.skipped.decode(self.conn, [r[1:] for r in rows if r[0] == 1])
        return page, current[0] if current else None

    async def iter_sessions(self, page_size: int = 1000) -> AsyncIterator[Session]:
        cursor: _RawPosition | None = None
        while True:
            sql, params = self._history_sql(cursor, (), ())
            rows = await self.conn.fetch(sql, params | {"limit": page_size})
            for session in self.skipped.decode(self.conn, rows):
                yield session
            if len(rows) < page_size:
                return
            cursor = _cursor_of(rows[-1])

    async def rollups(self, dim: str, since_key: str | None = None) -> list[RollupRow]:
        sql = f"{ROLLUP_SELECT} WHERE user_id = :uid AND dim = :dim"
        params: dict[str, Any] = {"uid": self.conn.value(self.identity.user_id), "dim": dim}
        if since_key is not None:
            sql += " AND key >= :since"
            params["since"] = since_key
        rows = await self.conn.fetch(sql, params)
        return [RollupRow(r[0], r[1], Mode(r[2]), bucket(r[3:])) for r in rows]

    async def top(self, dim: str, limit: int) -> list[tuple[str, Bucket]]:
        rows = await self.conn.fetch(
            TOP, {"uid": self.conn.value(self.identity.user_id), "dim": dim, "n": limit}
        )
        return [(r[0], bucket(r[1:])) for r in rows]

    async def totals_by_mode(self) -> dict[Mode, Bucket]:
        return {r.mode: r.counts for r in await self.rollups("all")}

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        return await self._streak_runs()

    async def last_ended(self) -> Session | None:
        """This device's finished session started last (the one that ended last)."""
        return await self._one(LAST_ENDED, self._me)

    @property
    def keeps_device_state(self) -> bool:
        """Whether this store keeps this device's own values (its `meta` table: a device's
        file). A shared server does not; its clients keep them elsewhere."""
        from storage.outbox import OutboxRecorder

        return isinstance(self.recorder, OutboxRecorder)

    async def device_value(self, key: str) -> str | None:
        """A value of this device's own (None: never set, or a store that keeps none)."""
        if not self.keeps_device_state:
            return None
        rows = await self.conn.fetch("SELECT value FROM meta WHERE key = :key", {"key": key})
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    async def set_device_value(self, key: str, value: str) -> bool:
        """Keep a value of this device's own, in a transaction of its own that no other
        device hears of; False where the store keeps none (ReadOnlyError if read-only)."""
        if not self.keeps_device_state:
            return False
        async with self.transaction(local=False) as tx:
            await tx.set_device_value(key, value)
            await tx.commit()
        return True

    async def pending_changes(self) -> int:
        return await self.recorder.pending(self.conn, self.identity)

    async def last_synced(self) -> datetime | None:
        return await self.recorder.last_synced(self.conn, self.identity)

    async def close(self) -> None:
        if self._writer is not None and self._writer is not self.conn:
            await self._writer.close()
        await self.conn.close()


def _lock() -> Any:
    import asyncio

    return asyncio.Lock()
