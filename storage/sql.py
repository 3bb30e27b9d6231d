"""The Repository in plain SQL over a small connection protocol, for SQLite and Postgres.

The statements are written once, in the SQL that SQLite and Postgres share (`ON CONFLICT`,
row values, partial-index predicates), with named `:params`. A connection (`Conn`) runs them
on its driver and converts values both ways: `storage.sqlite.SyncConn` on the standard
`sqlite3` module (a CLI action is a handful of C calls and one durable commit, with no ORM
or async driver imported), `storage.postgres.PgConn` on asyncpg.

A transaction is a thin unit of work: it records which entities changed, and the store's
`Recorder` decides what that means. The device's SQLite store appends outbox rows (the sync
engine pushes them); Postgres stamps every changed row with the user's change counter
(other devices pull by it). Rows applied from elsewhere take the same path with `local`
off: no outbox rows, every cache brought up to date. The schema itself is SQLAlchemy
metadata (`storage.schema`), migrated with Alembic.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.errors import (
    ChangedError,
    FocusError,
    OpenSessionError,
    ReadOnlyError,
    RefusedError,
    StorageError,
)
from app.domain.models import Bucket, LedgerEntry, Mode, Session, Status
from app.domain.rewards import consecutive, day_runs
from app.domain.rollup import local_day, rollup_entries
from storage.codec import SESSION_COLUMNS, ledger_to_row, session_to_row, to_payload
from storage.repository import Cursor, Identity, RollupRow


class Conn(Protocol):
    """One database connection: runs the shared SQL and converts values for its driver."""

    integrity_errors: tuple[type[Exception], ...]

    @property
    def where(self) -> str:
        """Where the data lives, as shown to the user (a file, or a server without secrets)."""
        ...

    async def fetch(self, sql: str, params: Any = ()) -> list[Any]: ...

    async def execute(self, sql: str, params: Any = ()) -> int: ...

    async def executemany(self, sql: str, rows: Any) -> None: ...

    async def begin(self) -> None:
        """Start a write transaction (SQLite: `BEGIN IMMEDIATE`, the write lock up front)."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def value(self, value: Any) -> Any:
        """A Python value (UUID, aware datetime, list) as this driver stores it."""
        ...

    def session(self, values: Sequence[Any]) -> Session:
        """A session from a row selected as `SESSION_COLUMNS` (ValueError/TypeError if bad)."""
        ...

    def constraint(self, exc: Exception) -> str:
        """The name of the unique index or constraint an integrity error is about ('' if none)."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Change:
    """One entity a transaction changed: its new state as a row."""

    entity: str
    entity_id: uuid.UUID
    version: int
    row: Mapping[str, Any]


@dataclass(slots=True)
class TxStart:
    """How a store opened a write transaction."""

    conn: Conn
    """The connection the transaction's statements go to (the store may wrap it)."""
    zone: tzinfo | None
    """The zone the cache is filed in, read in the transaction (None: not known yet)."""
    stamp: int | None = None
    """The change stamp rows written in it carry, where the store stamps rows."""
    zone_later: Callable[[], Awaitable[tzinfo | None]] | None = None
    """Where `zone` is not known yet: how to learn it once the transaction needs it."""


class Recorder(Protocol):
    """What a store does with a transaction's changes, and where it keeps the user's zone."""

    async def begin(self, conn: Conn, identity: Identity) -> TxStart:
        """Open a write transaction on `conn`."""
        ...

    async def finish(self, tx: SqlTransaction) -> None:
        """Record `tx.changes` before the commit (the outbox on a device)."""
        ...

    async def recorded_zone(self, conn: Conn, identity: Identity) -> tzinfo | None: ...

    async def record_zone(self, conn: Conn, identity: Identity, zone: str) -> None: ...

    async def pending(self, conn: Conn, identity: Identity) -> int:
        """Changes not yet pushed anywhere (0 where the store is the shared one)."""
        ...


BUCKET_COLS = ("completed", "abandoned", "expired", "focused_seconds", "xp", "coins")
_COLS = ", ".join(SESSION_COLUMNS)
# Spelled exactly as the partial index's WHERE, so SQLite uses that index.
OPEN = "status IN ('active', 'paused')"

OPEN_SESSION = f"SELECT {_COLS} FROM sessions WHERE user_id = :uid AND client_id = :cid AND {OPEN}"
GET_SESSION = f"SELECT {_COLS} FROM sessions WHERE user_id = :uid AND id = :sid"
_STAMPED = (*SESSION_COLUMNS, "change_stamp")
INSERT_SESSION = (
    f"INSERT INTO sessions ({', '.join(_STAMPED)}) VALUES ({', '.join(':' + c for c in _STAMPED)})"
)
# SET names every column; the version guard makes a lost update impossible.
UPDATE_SESSION = (
    "UPDATE sessions SET "
    + ", ".join(f"{c} = :{c}" for c in _STAMPED if c not in ("id", "user_id"))
    + " WHERE user_id = :user_id AND id = :id AND version = :w_version"
)
_LEDGER_COLS = (
    "id",
    "user_id",
    "idempotency_key",
    "session_id",
    "xp",
    "coins",
    "reason",
    "created_at",
    "change_stamp",
)
ADD_LEDGER = (
    f"INSERT INTO ledger ({', '.join(_LEDGER_COLS)}) "
    f"VALUES ({', '.join(':' + c for c in _LEDGER_COLS)}) "
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
STREAK = "SELECT longest, last_day, last_run FROM streak_cache WHERE user_id = :uid"
# What an award needs to know, in one round trip: whether its ledger key is taken, the day's
# focus xp so far, the streak cache and the xp total.
DAY_STATE = (
    "SELECT EXISTS (SELECT 1 FROM ledger WHERE user_id = :uid AND idempotency_key = :key), "
    "d.xp, s.longest, s.last_day, s.last_run, "
    "(SELECT coalesce(sum(xp), 0) FROM rollups WHERE user_id = :uid AND dim = 'all') "
    "FROM (SELECT 1 AS one) AS o "
    "LEFT JOIN rollups AS d ON d.user_id = :uid AND d.dim = 'day' AND d.mode = 'focus' "
    "AND d.key = :day LEFT JOIN streak_cache AS s ON s.user_id = :uid"
)
STORE_RUNS = (
    "INSERT INTO streak_cache (user_id, longest, last_day, last_run) "
    "VALUES (:uid, :longest, :last_day, :last_run) ON CONFLICT (user_id) DO UPDATE SET "
    "longest = excluded.longest, last_day = excluded.last_day, last_run = excluded.last_run"
)
_ROLLUP_SELECT = f"SELECT dim, key, mode, {', '.join(BUCKET_COLS)} FROM rollups"
TOP = (
    "SELECT key, "
    + ", ".join(f"sum({c})" for c in BUCKET_COLS)
    + " FROM rollups WHERE user_id = :uid AND dim = :dim GROUP BY key "
    "ORDER BY sum(focused_seconds) DESC, sum(completed + abandoned) DESC, key LIMIT :n"
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

    def decode(self, conn: Conn, rows: list[Any]) -> list[Session]:
        out = []
        for row in rows:
            try:
                out.append(conn.session(row))
            except (ValueError, TypeError):
                self.ids.append(str(row[0]))
        return out


def integrity_error(conn: Conn, exc: Exception) -> FocusError:
    """A refused write as the domain's error (the constraint says which)."""
    name = conn.constraint(exc)
    if name == "uq_sessions_open":
        return OpenSessionError("a session is already open on this device")
    if name == "pk_sessions":
        return RefusedError("that session already exists")
    return StorageError(f"cannot store the change: {' '.join(str(exc).split())}")


class _Reads:
    """Reads shared by a write transaction and the repository."""

    conn: Conn
    identity: Identity
    skipped: Skipped

    @property
    def _me(self) -> dict[str, Any]:
        v = self.conn.value
        return {"uid": v(self.identity.user_id), "cid": v(self.identity.client_id)}

    async def _one(self, sql: str, params: dict[str, Any]) -> Session | None:
        found = self.skipped.decode(self.conn, await self.conn.fetch(sql, params))
        return found[0] if found else None

    async def open_session(self) -> Session | None:
        return await self._one(OPEN_SESSION, self._me)

    async def get_session(self, session_id: uuid.UUID) -> Session | None:
        return await self._one(GET_SESSION, self._me | {"sid": self.conn.value(session_id)})

    async def total_xp(self) -> int:
        return int((await self.conn.fetch(TOTAL_XP, self._me))[0][0])

    async def _streak_runs(self) -> tuple[int, date | None, int]:
        return _runs(await self.conn.fetch(STREAK, self._me))


async def store_runs(conn: Conn, user_id: uuid.UUID, runs: tuple[int, date | None, int]) -> None:
    longest, last_day, last_run = runs
    await conn.execute(
        STORE_RUNS,
        {
            "uid": conn.value(user_id),
            "longest": longest,
            "last_day": last_day.isoformat() if last_day else None,
            "last_run": last_run,
        },
    )


async def recount_streak(
    conn: Conn, user_id: uuid.UUID, zone: tzinfo
) -> tuple[int, date | None, int]:
    """Rebuild the streak cache from the day rollups (after an out-of-order day or a rebuild)."""
    keys = await conn.fetch(REWARDED_FOCUS_DAYS, {"uid": conn.value(user_id)})
    runs = day_runs((date.fromisoformat(k[0]) for k in keys), zone)
    await store_runs(conn, user_id, runs)
    return runs


def _encode(conn: Conn, row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: conn.value(v) for k, v in row.items()}


def _bucket_rows(conn: Conn, user_id: uuid.UUID, entries: Any) -> list[dict[str, Any]]:
    """Rollup rows to add, one per key (an upsert may touch a key only once)."""
    uid = conn.value(user_id)
    merged: dict[tuple[str, str, str], Bucket] = {}
    for d, k, m, b in entries:
        merged[(d, k, m)] = merged.get((d, k, m), Bucket()) + b
    return [
        {"user_id": uid, "dim": d, "key": k, "mode": m} | {c: getattr(b, c) for c in BUCKET_COLS}
        for (d, k, m), b in merged.items()
    ]


class SqlTransaction(_Reads):
    """One write transaction: its writes and the caches derived from them, committed
    together or not at all. It records what changed in `changes`; the store's recorder
    turns them into outbox rows (a device) or has stamped them already (Postgres)."""

    def __init__(
        self,
        conn: Conn,
        identity: Identity,
        zone: tzinfo,
        skipped: Skipped,
        recorder: Recorder,
        stamp: int | None = None,
        local: bool = True,
        zone_later: Callable[[], Awaitable[tzinfo | None]] | None = None,
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.zone = zone
        self.skipped = skipped
        self.recorder = recorder
        self.stamp = stamp
        """The user's change counter this transaction's rows carry (Postgres), else None
        (also where the store fills it in as the rows reach the server)."""
        self.local = local
        self._zone_later = zone_later
        """False for rows applied from elsewhere (a pull): recorded nowhere, caches updated."""
        self.committed = False
        self.changes: list[Change] = []
        self._streak: tuple[int, date | None, int] | None = None
        self._xp: int | None = None
        self._day: tuple[str, int] | None = None
        """The xp total as this transaction has left it, where it knows (saves a read)."""

    def _row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return _encode(self.conn, row) | {"change_stamp": self.stamp}

    async def filing_zone(self) -> tzinfo:
        """The zone the cache is filed in, as recorded in the store (read in this tx)."""
        if self._zone_later is not None:
            later, self._zone_later = self._zone_later, None
            self.zone = await later() or self.zone
        return self.zone

    async def insert_session(self, session: Session) -> None:
        row = session_to_row(session)
        try:
            await self.conn.execute(INSERT_SESSION, self._row(row))
        except self.conn.integrity_errors as exc:
            raise integrity_error(self.conn, exc) from None
        self.changes.append(Change("session", session.id, session.version, row))

    async def update_session(self, before: Session, after: Session) -> None:
        if after.version <= before.version:
            raise ValueError("a change must raise the version")
        row = session_to_row(after)
        params = self._row(row) | {"w_version": before.version}
        if await self.conn.execute(UPDATE_SESSION, params) != 1:
            raise RefusedError("the session was changed elsewhere; try again")
        self.changes.append(Change("session", after.id, after.version, row))
        if before.status.is_open and after.status.is_terminal:
            await self._add_rollups(after)

    async def _day_state(self, day: str, key: str = "") -> bool:
        """Read `DAY_STATE` (the streak, the total and `day`'s focus xp are kept for the
        rest of the transaction); whether ledger key `key` is taken."""
        found = (await self.conn.fetch(DAY_STATE, self._me | {"day": day, "key": key}))[0]
        self._streak = _runs([found[2:5]])
        self._xp = int(found[5])
        self._day = (day, int(found[1] or 0))
        return bool(found[0])

    async def _add_rollups(self, session: Session) -> None:
        entries = rollup_entries(session, await self.filing_zone())
        if not entries:
            return
        new_day = None
        if session.mode is Mode.FOCUS and session.xp_awarded > 0:
            day = next(k for d, k, _, _ in entries if d == "day")
            if self._day is None or self._day[0] != day:
                await self._day_state(day)
            if self._day is not None and not self._day[1]:
                new_day = date.fromisoformat(day)
        await self.conn.executemany(ADD_ROLLUP, _bucket_rows(self.conn, session.user_id, entries))
        self._day = None  # the day's xp just changed
        if self._xp is not None:
            self._xp += sum(b.xp for d, _, _, b in entries if d == "all")
        if new_day is not None:
            await self._add_streak_day(new_day)

    async def _add_streak_day(self, day: date) -> None:
        """A day just got its first rewarded focus session: extend the runs in O(1)."""
        longest, last_day, last_run = self._streak or await self._streak_runs()
        if last_day is None or day <= last_day:
            # The first day ever, or a day from the past (synced, or a late completion): recount.
            self._streak = await recount_streak(self.conn, self.identity.user_id, self.zone)
            return
        last_run = last_run + 1 if consecutive(last_day, day, self.zone) else 1
        self._streak = (max(longest, last_run), day, last_run)
        await store_runs(self.conn, self.identity.user_id, self._streak)

    async def add_ledger(self, entry: LedgerEntry) -> bool:
        # The award's day state is read with the key check: the completion that follows
        # (its stats and streak) needs no read of its own.
        day = local_day(entry.created_at, await self.filing_zone()).isoformat()
        if await self._day_state(day, entry.idempotency_key):
            return False
        row = ledger_to_row(entry)
        if await self.conn.execute(ADD_LEDGER, self._row(row)) != 1:
            return False
        self.changes.append(Change("ledger", entry.id, 1, row))
        return True

    async def total_xp(self) -> int:
        if self._xp is None:
            self._xp = await super().total_xp()
        return self._xp

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        await self.filing_zone()
        if self._streak is None:
            self._streak = await self._streak_runs()
        return self._streak

    async def commit(self) -> None:
        if self.local:
            await self.recorder.finish(self)
        self.changes.clear()
        await self.conn.commit()
        self.committed = True


class _RawPosition:
    """The keyset position of a raw row, as stored (even a row that failed to decode)."""

    __slots__ = ("id_raw", "started_raw")

    def __init__(self, started_raw: Any, id_raw: Any) -> None:
        self.started_raw = started_raw
        self.id_raw = id_raw


_STARTED = SESSION_COLUMNS.index("started_at")


def _cursor_of(row: Sequence[Any]) -> _RawPosition:
    return _RawPosition(row[_STARTED], row[0])


class SqlRepository(_Reads):
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
        self.recorder: Recorder = recorder or OutboxRecorder()
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
            f"SELECT 1 AS part, {_COLS} FROM sessions "
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
        sql = f"{_ROLLUP_SELECT} WHERE user_id = :uid AND dim = :dim"
        params: dict[str, Any] = {"uid": self.conn.value(self.identity.user_id), "dim": dim}
        if since_key is not None:
            sql += " AND key >= :since"
            params["since"] = since_key
        rows = await self.conn.fetch(sql, params)
        return [RollupRow(r[0], r[1], Mode(r[2]), _bucket(r[3:])) for r in rows]

    async def top(self, dim: str, limit: int) -> list[tuple[str, Bucket]]:
        rows = await self.conn.fetch(
            TOP, {"uid": self.conn.value(self.identity.user_id), "dim": dim, "n": limit}
        )
        return [(r[0], _bucket(r[1:])) for r in rows]

    async def totals_by_mode(self) -> dict[Mode, Bucket]:
        return {r.mode: r.counts for r in await self.rollups("all")}

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        return await self._streak_runs()

    async def pending_changes(self) -> int:
        return await self.recorder.pending(self.conn, self.identity)

    async def close(self) -> None:
        if self._writer is not None and self._writer is not self.conn:
            await self._writer.close()
        await self.conn.close()


async def rebuild_rollups(tx: SqlTransaction) -> None:
    """Recount the stats cache from sessions, inside the caller's write transaction (so no
    completion can slip between the read and the rewrite), in `tx.zone`."""
    user = tx.identity.user_id
    uid = tx.conn.value(user)
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    rows = await tx.conn.fetch(
        f"SELECT {_COLS} FROM sessions WHERE user_id = :uid AND NOT {OPEN}", {"uid": uid}
    )
    for session in tx.skipped.decode(tx.conn, rows):
        for dim, key, mode, counts in rollup_entries(session, tx.zone):
            totals[(dim, key, mode)] += counts
    await tx.conn.execute("DELETE FROM rollups WHERE user_id = :uid", {"uid": uid})
    entries = [(d, k, m, b) for (d, k, m), b in totals.items()]
    await tx.conn.executemany(ADD_ROLLUP, _bucket_rows(tx.conn, user, entries))
    tx._streak = await recount_streak(tx.conn, user, tx.zone)
    tx._xp = None


def _lock() -> Any:
    import asyncio

    return asyncio.Lock()


def known_zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return None


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


async def settle_zone(
    repo: SqlRepository, stored: tzinfo | None, zone: tzinfo, configured: bool
) -> None:
    """Decide the zone the cache is filed in: the stored one, unless a configured zone
    differs, which re-files the cache (once per change)."""
    if stored is not None and (not configured or zone_name(stored) == zone_name(zone)):
        repo.zone = stored
        return
    try:
        await refile(repo, zone)
    except ReadOnlyError:
        repo.zone = stored or zone


async def refile(repo: SqlRepository, zone: tzinfo) -> None:
    """File the stats cache in `zone`: one write transaction that re-reads the recorded zone
    under the write lock, so two processes re-file at most once and never race a completion
    (a store that checks instead of locking says so, and it runs again)."""
    for attempt in range(1, 4):
        try:
            await _refile(repo, zone)
            return
        except ChangedError:
            if attempt == 3:
                raise


async def _refile(repo: SqlRepository, zone: tzinfo) -> None:
    async with repo.transaction() as tx:
        await tx.filing_zone()  # the store's write lock first, where it takes it lazily
        stored = await repo.recorder.recorded_zone(tx.conn, repo.identity)
        if stored is None or zone_name(stored) != zone_name(zone):
            tx.zone = zone
            await rebuild_rollups(tx)
            await repo.recorder.record_zone(tx.conn, repo.identity, zone_name(zone))
        await tx.commit()
    repo.zone = zone


# -- the device's recorder: the outbox, and the zone in `meta` -------------------------------

ADD_OUTBOX = (
    "INSERT INTO outbox (user_id, client_id, entity, entity_id, version, payload, created_at) "
    "VALUES (:user_id, :client_id, :entity, :entity_id, :version, :payload, :created_at)"
)
SET_META = (
    "INSERT INTO meta (key, value) VALUES (:key, :value) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def outbox_row(conn: Conn, identity: Identity, change: Change) -> dict[str, Any]:
    row = change.row
    at: datetime = row.get("updated_at") or row["created_at"]
    return {
        "user_id": conn.value(identity.user_id),
        "client_id": conn.value(identity.client_id),
        "entity": change.entity,
        "entity_id": conn.value(change.entity_id),
        "version": change.version,
        "payload": json.dumps(to_payload(row)),
        "created_at": conn.value(at),
    }


class OutboxRecorder:
    """A device: every change appends an outbox row in its own transaction, in the order
    the changes happened, for the sync engine to push."""

    async def begin(self, conn: Conn, identity: Identity) -> TxStart:
        await conn.begin()
        return TxStart(conn, await self.recorded_zone(conn, identity))

    async def finish(self, tx: SqlTransaction) -> None:
        if tx.changes:
            await tx.conn.executemany(
                ADD_OUTBOX, [outbox_row(tx.conn, tx.identity, c) for c in tx.changes]
            )

    async def recorded_zone(self, conn: Conn, identity: Identity) -> tzinfo | None:
        rows = await conn.fetch("SELECT value FROM meta WHERE key = 'rollup_tz'")
        return known_zone(rows[0][0]) if rows else None

    async def record_zone(self, conn: Conn, identity: Identity, zone: str) -> None:
        await set_meta(conn, "rollup_tz", zone)

    async def pending(self, conn: Conn, identity: Identity) -> int:
        rows = await conn.fetch(
            "SELECT count(*) FROM outbox WHERE user_id = :uid",
            {"uid": conn.value(identity.user_id)},
        )
        return int(rows[0][0])


async def set_meta(conn: Conn, key: str, value: str) -> None:
    await conn.execute(SET_META, {"key": key, "value": value})
