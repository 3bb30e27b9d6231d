"""The unit of work on Postgres: a user action in as few round trips as it allows.

Every write on the shared store bumps the user's change counter (its row lock orders the
user's writers, and the new stamp goes on every row written, so other devices can pull in
commit order). Done naively, with an open transaction, a completion costs a dozen round
trips: BEGIN, the bump, every read and write, COMMIT.

`LazyTx` is optimistic instead. Reads run without a transaction; the first one also reads
the user's change stamp. Writes known to touch a fixed number of rows (a session inserted
or changed under its version guard, a ledger row, rollup rows, the streak cache) are held
back and sent at the commit as ONE statement of data-modifying CTEs, with the bump, which
commits on its own (atomically). The statement checks itself: every write touched its rows
and the user's stamp is the one this transaction first read (no other write of the user
committed since, so what it read still holds); if not, `focus_guard()` raises and nothing
at all is written: `ChangedError`, and the flow runs again. A start is one round trip, a
pause or a completion two.

Whatever does need a real transaction (a read of a table a held write changes, a write
whose effect is not fixed, a second write to one table, whose order can matter) opens one
first: BEGIN, then the bump, the guard and the held writes in one statement; from then on
the user's row is locked and statements go as they come.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from app.domain.errors import BusyError, ChangedError
from app.domain.models import Session
from storage.filing import known_zone
from storage.repository import Identity
from storage.statements import (
    ADD_LEDGER,
    ADD_ROLLUP,
    INSERT_SESSION,
    PARAM,
    STORE_RUNS,
    UPDATE_SESSION,
)
from storage.unit import Conn, SqlTransaction, TxStart, integrity_error

BUMP = (
    "INSERT INTO user_state (user_id, change_stamp) VALUES (:bump_uid, 1) "
    "ON CONFLICT (user_id) DO UPDATE SET change_stamp = user_state.change_stamp + 1 "
    "RETURNING change_stamp, rollup_tz"
)
SET_ZONE = (
    "INSERT INTO user_state (user_id, rollup_tz) VALUES (:uid, :tz) "
    "ON CONFLICT (user_id) DO UPDATE SET rollup_tz = excluded.rollup_tz"
)
STAMP = "(SELECT change_stamp FROM focus_stamp)"
ZONE_SQL = "SELECT rollup_tz FROM user_state WHERE user_id = :uid"

# Statements held back, each with the table it writes; they touch one row when they succeed.
ONE_ROW = {
    INSERT_SESSION: "sessions",
    UPDATE_SESSION: "sessions",
    ADD_LEDGER: "ledger",  # the transaction checks its key first (`AWARD_STATE`)
    STORE_RUNS: "streak_cache",
}
# Upserts of many rows with distinct keys: held as one multi-row statement.
MANY = {ADD_ROLLUP: "rollups"}
MANY_HELD = 64
"""At most this many rows are held as one statement (an action's handful of stats rows);
more (a re-file) go as a pipelined `executemany` in a real transaction."""
_TABLES = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([A-Za-z_]\w*)", re.IGNORECASE)
_UNKNOWN = object()


@dataclass(frozen=True, slots=True)
class _Held:
    sql: str
    params: dict[str, Any]
    table: str
    expect: int | None
    """The rows it must touch (fewer: its guard failed); None: any number."""


@functools.lru_cache(maxsize=64)
def _many_text(sql: str, n: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The text of `sql` for n rows, and (new name, old name) for every parameter."""
    head, rest = sql.split(" VALUES (", 1)
    one, tail = rest.split(") ", 1)
    names = PARAM.findall(one)
    tuples = ["(" + PARAM.sub(rf":r{j}_\1", one) + ")" for j in range(n)]
    renamed = tuple((f"r{j}_{k}", k) for j in range(n) for k in names)
    return f"{head} VALUES {', '.join(tuples)} {tail}", renamed


def _many_rows(sql: str, rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """`INSERT ... VALUES (:a, :b) ON CONFLICT ...` for every row in one statement."""
    text, renamed = _many_text(sql, len(rows))
    width = len(renamed) // len(rows)
    params = {new: rows[i // width][old] for i, (new, old) in enumerate(renamed)}
    return text, params


@functools.lru_cache(maxsize=512)
def _tables(sql: str) -> frozenset[str]:
    return frozenset(_TABLES.findall(sql))


@functools.lru_cache(maxsize=256)
def _statement(writes: tuple[tuple[str, int | None], ...], bump: bool, check_seen: bool) -> str:
    """The text of `combined` for one shape of held writes (built once per shape)."""
    ctes: list[str] = []
    checks: list[str] = []
    if bump:
        ctes.append(f"focus_stamp AS ({BUMP})")
        if check_seen:
            checks.append(f"{STAMP} = :seen + 1")
    for i, (sql, expect) in enumerate(writes):

        def rename(match: re.Match[str], i: int = i) -> str:
            name = match.group(1)
            return STAMP if name == "change_stamp" and bump else f":w{i}_{name}"

        ctes.append(f"w{i} AS ({PARAM.sub(rename, sql)} RETURNING 1)")
        if expect is not None:
            checks.append(f"(SELECT count(*) FROM w{i}) = {int(expect)}")
    guard = f"public.focus_guard({' AND '.join(checks)})" if checks else "true"
    columns = [guard, *(f"(SELECT count(*) FROM w{i})" for i in range(len(writes)))]
    if bump:
        columns += [STAMP, "(SELECT rollup_tz FROM focus_stamp)"]
    return f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}"


def combined(
    held: list[_Held], uid: Any, stamp: int | None, seen: int | None
) -> tuple[str, dict[str, Any]]:
    """One statement: the bump (unless `stamp` is known), every held write as a CTE, and
    the guard; it returns each write's row count, then the new stamp and the zone."""
    bump = stamp is None
    sql = _statement(tuple((w.sql, w.expect) for w in held), bump, seen is not None)
    params: dict[str, Any] = {}
    if bump:
        params["bump_uid"] = uid
        if seen is not None:
            params["seen"] = seen
    for i, write in enumerate(held):
        params.update((f"w{i}_{k}", v) for k, v in write.params.items())
        if "change_stamp" in write.params:
            if bump:
                del params[f"w{i}_change_stamp"]
            else:
                params[f"w{i}_change_stamp"] = stamp
    return sql, params


class LazyTx:
    """A write transaction on one Postgres connection, optimistic until it must not be
    (see the module docstring); it speaks the store's connection protocol."""

    def __init__(self, conn: Conn, identity: Identity) -> None:
        self.inner = conn
        self.identity = identity
        self.integrity_errors = conn.integrity_errors
        self.uuid_text = conn.uuid_text
        self.begun = False
        self.stamp: int | None = None
        self.seen: int | None = None
        """The user's change stamp when this transaction first read (before BEGIN)."""
        self.zone: tzinfo | None = None
        self._zone_raw: Any = _UNKNOWN
        self._held: list[_Held] = []

    @property
    def where(self) -> str:
        return self.inner.where

    def value(self, value: Any) -> Any:
        return self.inner.value(value)

    def session(self, values: Any) -> Session:
        return self.inner.session(values)

    def constraint(self, exc: Exception) -> str:
        return self.inner.constraint(exc)

    async def close(self) -> None:
        await self.inner.close()

    # -- sending ---------------------------------------------------------------------------

    async def _send(self, bump: bool) -> list[int]:
        """Send what is held (with the bump and the stamp check when `bump`) as one
        statement; the rows each held write touched."""
        held, self._held = self._held, []
        sql, params = combined(held, self.identity.user_id, None if bump else self.stamp, self.seen)
        try:
            row = (await self.inner.fetch(sql, params))[0]
        except self.integrity_errors as exc:
            raise integrity_error(self.inner, exc) from None
        except BusyError as exc:  # focus_guard: something changed since it was read
            raise ChangedError("the session was changed elsewhere; try again") from exc
        counts = [int(n) for n in row[1 : len(held) + 1]]
        if bump:
            self.stamp = int(row[len(held) + 1])
            self._zone_raw = row[len(held) + 2]
            self.zone = known_zone(self._zone_raw)
        return counts

    async def _begin(self) -> None:
        """Open a real transaction: the bump, the stamp check and what is held go first."""
        if self.begun:
            return
        await self.inner.begin()
        self.begun = True
        await self._send(bump=True)

    async def _flush(self) -> None:
        if self.begun:
            if self._held:
                await self._send(bump=False)
        elif self._held:
            await self._begin()

    def _stamped(self, params: Any) -> Any:
        if isinstance(params, dict) and "change_stamp" in params:
            return params | {"change_stamp": self.stamp}
        return params

    async def _hold(self, write: _Held) -> None:
        if any(h.table == write.table for h in self._held):
            await self._flush()  # their order may matter: one at a time
        self._held.append(write)

    # -- the connection protocol -----------------------------------------------------------

    async def begin(self) -> None:
        await self._begin()

    async def zone_later(self) -> tzinfo | None:
        """The zone the stats are filed in, as recorded (checked again by the guard)."""
        if self._zone_raw is _UNKNOWN:
            rows = await self.fetch(ZONE_SQL, {"uid": self.identity.user_id})
            self._zone_raw = rows[0][0] if rows else None
            self.zone = known_zone(self._zone_raw)
        return self.zone

    async def fetch(self, sql: str, params: Any = ()) -> list[Any]:
        if self._held and {h.table for h in self._held} & _tables(sql):
            await self._flush()  # the read must see the held writes
        if self.begun or self.seen is not None or not isinstance(params, dict):
            return await self.inner.fetch(sql, params)
        # The first read also reads the user's stamp (for the guard) and zone (for stats).
        rows = await self.inner.fetch(
            f"WITH q AS ({sql}) SELECT coalesce(u.change_stamp, 0), u.rollup_tz, "
            "n.focus_n IS NOT NULL, n.* FROM (SELECT 1) AS one "
            "LEFT JOIN user_state AS u ON u.user_id = :focus_uid LEFT JOIN "
            "(SELECT row_number() OVER () AS focus_n, q.* FROM q) AS n ON true "
            "ORDER BY n.focus_n",
            params | {"focus_uid": self.identity.user_id},
        )
        self.seen = int(rows[0][0])
        if self._zone_raw is _UNKNOWN:
            self._zone_raw = rows[0][1]
            self.zone = known_zone(self._zone_raw)
        return [tuple(r)[4:] for r in rows] if rows[0][2] else []

    async def execute(self, sql: str, params: Any = ()) -> int:
        if isinstance(params, dict) and sql in ONE_ROW:
            await self._hold(_Held(sql, params, ONE_ROW[sql], 1))
            return 1
        await self._begin()
        await self._flush()
        return await self.inner.execute(sql, self._stamped(params))

    async def executemany(self, sql: str, rows: Any) -> None:
        rows = list(rows)
        if not rows:
            return
        if sql in MANY and len(rows) <= MANY_HELD and all(isinstance(r, dict) for r in rows):
            many, params = _many_rows(sql, rows)
            await self._hold(_Held(many, params, MANY[sql], len(rows)))
            return
        await self._begin()
        await self._flush()
        await self.inner.executemany(sql, [self._stamped(r) for r in rows])

    async def commit(self) -> None:
        if not self.begun:
            if self._held:
                await self._send(bump=True)  # one statement: it commits on its own
            return
        await self._flush()
        await self.inner.commit()
        self.begun = False

    async def rollback(self) -> None:
        self._held.clear()
        if self.begun:
            self.begun = False
            await self.inner.rollback()


class StampRecorder:
    """The shared store: nothing to push, rows carry the stamp of their transaction."""

    async def begin(self, conn: Conn, identity: Identity) -> TxStart:
        tx = LazyTx(conn, identity)
        return TxStart(tx, None, None, tx.zone_later)

    async def finish(self, tx: SqlTransaction) -> None:
        return None  # every row was stamped as it was written

    async def recorded_zone(self, conn: Conn, identity: Identity) -> tzinfo | None:
        rows = await conn.fetch(ZONE_SQL, {"uid": identity.user_id})
        return known_zone(rows[0][0]) if rows else None

    async def record_zone(self, conn: Conn, identity: Identity, zone: str) -> None:
        await conn.execute(SET_ZONE, {"uid": identity.user_id, "tz": zone})

    async def pending(self, conn: Conn, identity: Identity) -> int:
        return 0

    async def last_synced(self, conn: Conn, identity: Identity) -> datetime | None:
        return None
