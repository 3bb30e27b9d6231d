"""The thin unit of work every store shares: one write transaction over a connection.

A connection (`Conn`) runs the shared statements (`storage.statements`) on its driver and
converts values both ways: `storage.sqlite.SyncConn` on the standard `sqlite3` module,
`storage.postgres.PgConn` on asyncpg. A transaction records which entities changed, and the
store's `Recorder` decides what that means: the device's SQLite store appends outbox rows
(`storage.outbox`, for the sync engine to push); Postgres stamps every changed row with the
user's change counter (`storage.pg_unit`, for other devices to pull). Rows applied from
elsewhere take the same path with `local` off: no outbox rows, every cache brought up to
date.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Protocol

from app.domain.errors import FocusError, OpenSessionError, RefusedError, StorageError
from app.domain.models import Bucket, LedgerEntry, Mode, Session
from app.domain.rewards import consecutive, day_runs
from app.domain.rollup import rollup_entries
from storage.codec import SESSION_COLUMNS, ledger_to_row, session_to_row
from storage.repository import Identity
from storage.statements import (
    ADD_LEDGER,
    ADD_ROLLUP,
    AWARD_STATE,
    BUCKET_COLS,
    GET_SESSION,
    INSERT_SESSION,
    OPEN_SESSION,
    REWARDED_FOCUS_DAYS,
    STORE_RUNS,
    STREAK,
    TOTAL_XP,
    UPDATE_SESSION,
    open_for_award,
)


class Conn(Protocol):
    """One database connection: runs the shared SQL and converts values for its driver."""

    integrity_errors: tuple[type[Exception], ...]
    uuid_text: str
    """SQL for a stored UUID column `{}` as text like `str(uuid)` (in ledger keys)."""

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

    async def last_synced(self, conn: Conn, identity: Identity) -> datetime | None:
        """When this device last synced (None where the store is the shared one)."""
        ...


def bucket(values: Sequence[Any]) -> Bucket:
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


class Reads:
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


def bucket_rows(conn: Conn, user_id: uuid.UUID, entries: Any) -> list[dict[str, Any]]:
    """Rollup rows to add, one per key (an upsert may touch a key only once)."""
    uid = conn.value(user_id)
    merged: dict[tuple[str, str, str], Bucket] = {}
    for d, k, m, b in entries:
        merged[(d, k, m)] = merged.get((d, k, m), Bucket()) + b
    return [
        {"user_id": uid, "dim": d, "key": k, "mode": m} | {c: getattr(b, c) for c in BUCKET_COLS}
        for (d, k, m), b in merged.items()
    ]


class SqlTransaction(Reads):
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
        self._paid: dict[str, bool] = {}
        """Ledger keys known to be taken or free, as read with the open session."""
        """The xp total as this transaction has left it, where it knows (saves a read)."""

    def _row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return _encode(self.conn, row) | {"change_stamp": self.stamp}

    async def filing_zone(self) -> tzinfo:
        """The zone the cache is filed in, as recorded in the store (read in this tx)."""
        if self._zone_later is not None:
            later, self._zone_later = self._zone_later, None
            self.zone = await later() or self.zone
        return self.zone

    async def set_device_value(self, key: str, value: str) -> bool:
        """Keep a value of this device's own in this transaction (its `meta` table, never
        sent anywhere); False where the store keeps none (a shared server)."""
        from storage.outbox import OutboxRecorder, set_meta

        if not isinstance(self.recorder, OutboxRecorder):
            return False
        await set_meta(self.conn, key, value)
        return True

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

    async def open_session(self) -> Session | None:
        """The open session, read with what completing it needs (see `open_for_award`)."""
        rows = await self.conn.fetch(open_for_award(self.conn.uuid_text), self._me)
        width = len(SESSION_COLUMNS)
        found = self.skipped.decode(self.conn, [tuple(r)[:width] for r in rows])
        if not found:
            return None
        session, extra = found[0], tuple(rows[0])[width:]
        self._paid[f"{session.mode.value}_complete:{session.id}"] = bool(extra[0])
        self._streak = _runs([extra[1:4]])
        self._xp = int(extra[4])
        return session

    async def _award_state(self, key: str) -> bool:
        """Whether ledger key `key` is taken (the streak and the xp total are kept for the
        rest of the transaction)."""
        found = (await self.conn.fetch(AWARD_STATE, self._me | {"key": key}))[0]
        self._streak = _runs([found[1:4]])
        self._xp = int(found[4])
        return bool(found[0])

    async def _add_rollups(self, session: Session) -> None:
        entries = rollup_entries(session, await self.filing_zone())
        if not entries:
            return
        new_day = None
        if session.mode is Mode.FOCUS and session.xp_awarded > 0:
            day = date.fromisoformat(next(k for d, k, _, _ in entries if d == "day"))
            if self._streak is None:
                self._streak = await self._streak_runs()
            # The cache's last day is the newest day with a rewarded focus session: any
            # other day may be new (an older one is recounted).
            if day != self._streak[1]:
                new_day = day
        await self.conn.executemany(ADD_ROLLUP, bucket_rows(self.conn, session.user_id, entries))
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
        # Whether the key is taken was read with the open session, or is read now, with
        # what the completion that follows needs (its stats and streak need no read).
        paid = self._paid.pop(entry.idempotency_key, None)
        if paid is None:
            paid = await self._award_state(entry.idempotency_key)
        if paid:
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

    def derived_rebuilt(self, streak: tuple[int, date | None, int]) -> None:
        """The caches were rebuilt in this transaction: forget what it had read of them."""
        self._streak = streak
        self._xp = None

    async def commit(self) -> None:
        if self.local:
            await self.recorder.finish(self)
        self.changes.clear()
        await self.conn.commit()
        self.committed = True
