"""The Repository in plain SQL over a small connection protocol (`storage.sqlite.SyncConn`).

The statements are written once, in the SQL that SQLite and Postgres share (`ON CONFLICT`,
row values, partial-index predicates). They run on the standard `sqlite3` module directly:
a CLI action is then a handful of C calls and one durable commit, and no ORM or async
driver has to be imported for it (a `focus pause` bound to a key costs a process start).
The schema itself is SQLAlchemy metadata (`storage.schema`), migrated with Alembic.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, tzinfo
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.errors import FocusError, ReadOnlyError, RefusedError, StorageError
from app.domain.models import Bucket, LedgerEntry, Mode, Session, Status
from app.domain.rewards import consecutive, day_runs
from app.domain.rollup import rollup_entries
from storage.codec import (
    SESSION_COLUMNS,
    ledger_to_row,
    session_from_sqlite,
    session_to_row,
    sqlite_instant,
    sqlite_row,
    to_payload,
)
from storage.repository import Cursor, Identity, RollupRow


class Conn(Protocol):
    path: Path

    async def fetch(self, sql: str, params: Any = ()) -> list[Any]: ...

    async def execute(self, sql: str, params: Any = ()) -> int: ...

    async def executemany(self, sql: str, rows: Any) -> None: ...

    async def close(self) -> None: ...


BUCKET_COLS = ("completed", "abandoned", "expired", "focused_seconds", "xp", "coins")
_COLS = ", ".join(SESSION_COLUMNS)
# Spelled exactly as the partial index's WHERE, so SQLite uses that index.
OPEN = "status IN ('active', 'paused')"

OPEN_SESSION = f"SELECT {_COLS} FROM sessions WHERE user_id = :uid AND client_id = :cid AND {OPEN}"
GET_SESSION = f"SELECT {_COLS} FROM sessions WHERE user_id = :uid AND id = :sid"
INSERT_SESSION = (
    f"INSERT INTO sessions ({_COLS}) VALUES ({', '.join(':' + c for c in SESSION_COLUMNS)})"
)
# SET names every column; the version guard makes a lost update impossible.
UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{c} = :{c}" for c in SESSION_COLUMNS if c not in ("id", "user_id"))
    + " WHERE user_id = :user_id AND id = :id AND version = :w_version"
)
_LEDGER_COLS = ("id", "user_id", "idempotency_key", "session_id", "xp", "coins", "reason")
ADD_LEDGER = (
    f"INSERT INTO ledger ({', '.join(_LEDGER_COLS)}, created_at) "
    f"VALUES ({', '.join(':' + c for c in _LEDGER_COLS)}, :created_at) "
    "ON CONFLICT (user_id, idempotency_key) DO NOTHING"
)
ADD_ROLLUP = (
    f"INSERT INTO rollups (user_id, dim, mode, key, {', '.join(BUCKET_COLS)}) "
    f"VALUES (:user_id, :dim, :mode, :key, {', '.join(':' + c for c in BUCKET_COLS)}) "
    "ON CONFLICT (user_id, dim, mode, key) DO UPDATE SET "
    + ", ".join(f"{c} = rollups.{c} + excluded.{c}" for c in BUCKET_COLS)
)
TOTAL_XP = "SELECT coalesce(sum(xp), 0) FROM rollups WHERE user_id = :uid AND dim = 'all'"
# A rewarded focus session (a minute or more) keeps a streak.
REWARDED_FOCUS_DAYS = (
    "SELECT key FROM rollups WHERE user_id = :uid AND dim = 'day' AND mode = 'focus' AND xp > 0"
)
DAY_XP = (
    "SELECT xp FROM rollups WHERE user_id = :uid AND dim = 'day' AND mode = 'focus' AND key = :day"
)
STREAK = "SELECT longest, last_day, last_run FROM streak_cache WHERE user_id = :uid"
STORE_RUNS = (
    "INSERT INTO streak_cache (user_id, longest, last_day, last_run) "
    "VALUES (:uid, :longest, :last_day, :last_run) ON CONFLICT (user_id) DO UPDATE SET "
    "longest = excluded.longest, last_day = excluded.last_day, last_run = excluded.last_run"
)
ADD_OUTBOX = (
    "INSERT INTO outbox (user_id, client_id, entity, entity_id, version, payload, created_at) "
    "VALUES (:user_id, :client_id, :entity, :entity_id, :version, :payload, :created_at)"
)
_ROLLUP_SELECT = f"SELECT dim, key, mode, {', '.join(BUCKET_COLS)} FROM rollups"
TOP = (
    "SELECT key, "
    + ", ".join(f"sum({c})" for c in BUCKET_COLS)
    + " FROM rollups WHERE user_id = :uid AND dim = :dim GROUP BY key "
    "ORDER BY sum(focused_seconds) DESC, sum(completed + abandoned) DESC, key LIMIT :n"
)
SET_META = (
    "INSERT INTO meta (key, value) VALUES (:key, :value) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def _bucket(values: Sequence[Any]) -> Bucket:
    return Bucket(*(int(v or 0) for v in values))


def _runs(rows: list[Any]) -> tuple[int, date | None, int]:
    if not rows or rows[0][1] is None:
        return 0, None, 0
    longest, last_day, last_run = rows[0]
    try:
        return int(longest), date.fromisoformat(last_day), int(last_run)
    except (TypeError, ValueError):
        return 0, None, 0


class Skipped:
    """Rows a read could not decode: counted and named, never fatal."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def decode(self, rows: list[Any]) -> list[Session]:
        out = []
        for row in rows:
            try:
                out.append(session_from_sqlite(row))
            except (ValueError, TypeError):
                self.ids.append(str(row[0]))
        return out


class _Reads:
    """Reads shared by a write transaction and the repository."""

    conn: Conn
    identity: Identity
    skipped: Skipped

    @property
    def _me(self) -> dict[str, Any]:
        return {"uid": self.identity.user_id.hex, "cid": self.identity.client_id.hex}

    async def _one(self, sql: str, params: dict[str, Any]) -> Session | None:
        found = self.skipped.decode(await self.conn.fetch(sql, params))
        return found[0] if found else None

    async def open_session(self) -> Session | None:
        return await self._one(OPEN_SESSION, self._me)

    async def get_session(self, session_id: uuid.UUID) -> Session | None:
        return await self._one(GET_SESSION, self._me | {"sid": session_id.hex})

    async def total_xp(self) -> int:
        return int((await self.conn.fetch(TOTAL_XP, self._me))[0][0])

    async def _streak_runs(self) -> tuple[int, date | None, int]:
        return _runs(await self.conn.fetch(STREAK, self._me))


async def store_runs(conn: Conn, user_id: uuid.UUID, runs: tuple[int, date | None, int]) -> None:
    longest, last_day, last_run = runs
    await conn.execute(
        STORE_RUNS,
        {
            "uid": user_id.hex,
            "longest": longest,
            "last_day": last_day.isoformat() if last_day else None,
            "last_run": last_run,
        },
    )


async def recount_streak(
    conn: Conn, user_id: uuid.UUID, zone: tzinfo
) -> tuple[int, date | None, int]:
    """Rebuild the streak cache from the day rollups (after an out-of-order day or a rebuild)."""
    keys = await conn.fetch(REWARDED_FOCUS_DAYS, {"uid": user_id.hex})
    runs = day_runs((date.fromisoformat(k[0]) for k in keys), zone)
    await store_runs(conn, user_id, runs)
    return runs


class SqlTransaction(_Reads):
    """One write transaction (`BEGIN IMMEDIATE` on SQLite): its writes, the outbox rows of
    every change and the caches derived from it, committed together or not at all."""

    def __init__(self, conn: Conn, identity: Identity, zone: tzinfo, skipped: Skipped) -> None:
        self.conn = conn
        self.identity = identity
        self.zone = zone
        self.skipped = skipped
        self.committed = False
        self._outbox: list[dict[str, Any]] = []
        self._streak: tuple[int, date | None, int] | None = None

    def _outbox_row(self, entity: str, entity_id: uuid.UUID, version: int, row: Any) -> Any:
        return {
            "user_id": self.identity.user_id.hex,
            "client_id": self.identity.client_id.hex,
            "entity": entity,
            "entity_id": entity_id.hex,
            "version": version,
            "payload": to_payload(row),
            "created_at": sqlite_instant(row.get("updated_at") or row["created_at"]),
        }

    async def insert_session(self, session: Session) -> None:
        row = session_to_row(session)
        try:
            await self.conn.execute(INSERT_SESSION, sqlite_row(row))
        except sqlite3.IntegrityError as exc:
            if "sessions.user_id, sessions.client_id" in str(exc):  # the open-session index
                raise RefusedError("a session is already open on this device") from None
            raise StorageError(f"cannot store the session: {exc}") from None
        self._outbox.append(self._outbox_row("session", session.id, session.version, row))

    async def update_session(self, before: Session, after: Session) -> None:
        if after.version <= before.version:
            raise ValueError("a change must raise the version")
        row = session_to_row(after)
        params = sqlite_row(row) | {"w_version": before.version}
        if await self.conn.execute(UPDATE_SESSION, params) != 1:
            raise RefusedError("the session was changed elsewhere; try again")
        self._outbox.append(self._outbox_row("session", after.id, after.version, row))
        if before.status.is_open and after.status.is_terminal:
            await self._add_rollups(after)

    async def _add_rollups(self, session: Session) -> None:
        entries = rollup_entries(session, self.zone)
        if not entries:
            return
        uid = session.user_id.hex
        values = [
            {"user_id": uid, "dim": d, "key": k, "mode": m}
            | {c: getattr(b, c) for c in BUCKET_COLS}
            for d, k, m, b in entries
        ]
        new_day = None
        if session.mode is Mode.FOCUS and session.xp_awarded > 0:
            day = next(k for d, k, _, _ in entries if d == "day")
            before = await self.conn.fetch(DAY_XP, self._me | {"day": day})
            new_day = None if before and before[0][0] else date.fromisoformat(day)
        await self.conn.executemany(ADD_ROLLUP, values)
        if new_day is not None:
            await self._add_streak_day(new_day)

    async def _add_streak_day(self, day: date) -> None:
        """A day just got its first rewarded focus session: extend the runs in O(1)."""
        longest, last_day, last_run = await self._streak_runs()
        if last_day is None or day <= last_day:
            # The first day ever, or a day from the past (synced, or a late completion): recount.
            self._streak = await recount_streak(self.conn, self.identity.user_id, self.zone)
            return
        last_run = last_run + 1 if consecutive(last_day, day, self.zone) else 1
        self._streak = (max(longest, last_run), day, last_run)
        await store_runs(self.conn, self.identity.user_id, self._streak)

    async def add_ledger(self, entry: LedgerEntry) -> bool:
        row = ledger_to_row(entry)
        if await self.conn.execute(ADD_LEDGER, sqlite_row(row)) != 1:
            return False
        self._outbox.append(self._outbox_row("ledger", entry.id, 1, row))
        return True

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        if self._streak is None:
            self._streak = await self._streak_runs()
        return self._streak

    async def commit(self) -> None:
        # The outbox rows of this action go in one statement, in the order they happened.
        if self._outbox:
            await self.conn.executemany(
                ADD_OUTBOX, [r | {"payload": json.dumps(r["payload"])} for r in self._outbox]
            )
            self._outbox.clear()
        await self.conn.execute("COMMIT")
        self.committed = True


class _RawPosition:
    """The keyset position of a raw row, as stored (even a row that failed to decode)."""

    __slots__ = ("id_hex", "started_text")

    def __init__(self, started_text: str, id_hex: str) -> None:
        self.started_text = started_text
        self.id_hex = id_hex


_STARTED = SESSION_COLUMNS.index("started_at")


def _cursor_of(row: Sequence[Any]) -> _RawPosition:
    return _RawPosition(row[_STARTED], row[0])


class SqlRepository(_Reads):
    """The store over one database file: reads on `conn`, writes on a second, writable
    connection that a read-only open makes only when something must be written."""

    def __init__(
        self,
        conn: Conn,
        identity: Identity,
        zone: tzinfo,
        writer: Callable[[], Any] | None = None,
        concurrent: bool = False,
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.zone = zone
        self.skipped = Skipped()
        self._make_writer = writer
        self._writer: Conn | None = None if writer else conn
        # One write transaction at a time on the writer connection where flows run
        # concurrently (the app's workers); inline, a flow never yields to another. SQLite
        # itself serializes writers across processes.
        self._write_lock: Any = _lock() if concurrent else contextlib.nullcontext()

    @property
    def path(self) -> Path:
        return self.conn.path

    async def _write_conn(self) -> Conn:
        if self._writer is None:
            if self._make_writer is None:
                raise ReadOnlyError(f"the database {self.path} is opened read-only")
            self._writer = await self._make_writer()
        return self._writer

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlTransaction]:
        async with self._write_lock:
            conn = await self._write_conn()
            # Writers take the write lock up front, so two never deadlock mid-transaction.
            await conn.execute("BEGIN IMMEDIATE")
            # The cache is filed in the zone recorded in the file, read under the lock: another
            # process may have re-filed it since this one opened.
            self.zone = await _recorded_zone(conn) or self.zone
            tx = SqlTransaction(conn, self.identity, self.zone, self.skipped)
            try:
                yield tx
            finally:
                if not tx.committed:
                    with contextlib.suppress(FocusError):  # SQLite may have rolled back itself
                        await conn.execute("ROLLBACK")

    async def filing_zone(self) -> tzinfo:
        self.zone = await _recorded_zone(self.conn) or self.zone
        return self.zone

    def _history_sql(
        self,
        before: Cursor | _RawPosition | None,
        statuses: Sequence[Status],
        modes: Sequence[Mode],
    ) -> tuple[str, dict[str, Any]]:
        where = ["user_id = :uid"]
        params: dict[str, Any] = {"uid": self.identity.user_id.hex}
        if before is not None:
            # A row-value comparison: both SQLite and Postgres seek the history index with it.
            where.append("(started_at, id) < (:b_started, :b_id)")
            if isinstance(before, _RawPosition):
                params |= {"b_started": before.started_text, "b_id": before.id_hex}
            else:
                params |= {"b_started": sqlite_instant(before.started_at), "b_id": before.id.hex}
        for name, values in (("status", statuses), ("mode", modes)):
            if values:
                keys = [f"{name}{i}" for i in range(len(values))]
                where.append(f"{name} IN ({', '.join(':' + k for k in keys)})")
                params |= {k: v.value for k, v in zip(keys, values, strict=True)}
        sql = (
            f"SELECT {_COLS} FROM sessions WHERE {' AND '.join(where)} "
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
        return self.skipped.decode(await self.conn.fetch(sql, params | {"limit": limit}))

    async def iter_sessions(self, page_size: int = 1000) -> AsyncIterator[Session]:
        cursor: _RawPosition | None = None
        while True:
            sql, params = self._history_sql(cursor, (), ())
            rows = await self.conn.fetch(sql, params | {"limit": page_size})
            for session in self.skipped.decode(rows):
                yield session
            if len(rows) < page_size:
                return
            cursor = _cursor_of(rows[-1])

    async def rollups(self, dim: str, since_key: str | None = None) -> list[RollupRow]:
        sql = f"{_ROLLUP_SELECT} WHERE user_id = :uid AND dim = :dim"
        params: dict[str, Any] = {"uid": self.identity.user_id.hex, "dim": dim}
        if since_key is not None:
            sql += " AND key >= :since"
            params["since"] = since_key
        rows = await self.conn.fetch(sql, params)
        return [RollupRow(r[0], r[1], Mode(r[2]), _bucket(r[3:])) for r in rows]

    async def top(self, dim: str, limit: int) -> list[tuple[str, Bucket]]:
        rows = await self.conn.fetch(
            TOP, {"uid": self.identity.user_id.hex, "dim": dim, "n": limit}
        )
        return [(r[0], _bucket(r[1:])) for r in rows]

    async def totals_by_mode(self) -> dict[Mode, Bucket]:
        return {r.mode: r.counts for r in await self.rollups("all")}

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        return await self._streak_runs()

    async def pending_changes(self) -> int:
        rows = await self.conn.fetch(
            "SELECT count(*) FROM outbox WHERE user_id = :uid", {"uid": self.identity.user_id.hex}
        )
        return int(rows[0][0])

    async def close(self) -> None:
        if self._writer is not None and self._writer is not self.conn:
            await self._writer.close()
        await self.conn.close()


async def rebuild_rollups(tx: SqlTransaction) -> None:
    """Recount the stats cache from sessions, inside the caller's write transaction (so no
    completion can slip between the read and the rewrite), in `tx.zone`."""
    user = tx.identity.user_id
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    rows = await tx.conn.fetch(
        f"SELECT {_COLS} FROM sessions WHERE user_id = :uid AND NOT {OPEN}", {"uid": user.hex}
    )
    for session in tx.skipped.decode(rows):
        for dim, key, mode, counts in rollup_entries(session, tx.zone):
            totals[(dim, key, mode)] += counts
    await tx.conn.execute("DELETE FROM rollups WHERE user_id = :uid", {"uid": user.hex})
    await tx.conn.executemany(
        ADD_ROLLUP,
        [
            {"user_id": user.hex, "dim": d, "key": k, "mode": m}
            | {c: getattr(b, c) for c in BUCKET_COLS}
            for (d, k, m), b in totals.items()
        ],
    )
    tx._streak = await recount_streak(tx.conn, user, tx.zone)


def _lock() -> Any:
    import asyncio

    return asyncio.Lock()


async def _recorded_zone(conn: Conn) -> tzinfo | None:
    rows = await conn.fetch("SELECT value FROM meta WHERE key = 'rollup_tz'")
    if not rows:
        return None
    try:
        return ZoneInfo(rows[0][0])
    except (ValueError, ZoneInfoNotFoundError):
        return None


async def set_meta(conn: Conn, key: str, value: str) -> None:
    await conn.execute(SET_META, {"key": key, "value": value})
