"""The unit of work on Postgres: a user action in as few round trips as it allows.

Every write transaction on the shared store bumps the user's change counter (its row lock
orders the user's writers, and the new stamp goes on every row written, so other devices
can pull in commit order). Done naively that costs a round trip each for BEGIN, the bump,
every statement and COMMIT: five for a start, a dozen for a completion.

`LazyTx` sends less. Reads before the first write need no transaction. A write known to
touch exactly one row when it succeeds (a session inserted or changed under its version
guard, a ledger row, the streak cache) is held back and sent with the next statement:
several such writes, and the bump, travel as one statement of data-modifying CTEs. A
transaction whose only write is one of these commits as that single statement (atomic on
its own): start, pause, resume and extend are one read and one write. Whatever else needs
the transaction (a read after a write, a write whose row count matters, the zone the stats
are filed in) opens it for real first, with the bump in the same round trip as the writes
held back. A held-back write that finds its guard failed (no row) fails the transaction
with the domain's error, as it would have sent alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from app.domain.errors import RefusedError
from app.domain.models import Session
from storage.repository import Identity
from storage.sql import (
    ADD_LEDGER,
    ADD_ROLLUP,
    INSERT_SESSION,
    STORE_RUNS,
    UPDATE_SESSION,
    Conn,
    SqlTransaction,
    TxStart,
    integrity_error,
    known_zone,
)

BUMP = (
    "INSERT INTO user_state (user_id, change_stamp) VALUES (:uid, 1) "
    "ON CONFLICT (user_id) DO UPDATE SET change_stamp = user_state.change_stamp + 1 "
    "RETURNING change_stamp, rollup_tz"
)
SET_ZONE = (
    "INSERT INTO user_state (user_id, rollup_tz) VALUES (:uid, :tz) "
    "ON CONFLICT (user_id) DO UPDATE SET rollup_tz = excluded.rollup_tz"
)
STAMP = "(SELECT change_stamp FROM focus_stamp)"

# Statements that touch exactly one row when they succeed (the table each writes).
DEFERRABLE = {
    INSERT_SESSION: "sessions",
    UPDATE_SESSION: "sessions",
    STORE_RUNS: "streak_cache",
}
# A write whose row count the caller reads at once: sent at once, with whatever is held.
COUNTED = {ADD_LEDGER: "ledger"}
# Upserts of many rows with distinct keys: held as one multi-row statement.
MANY = {ADD_ROLLUP: "rollups"}
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_TABLES = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE)\s+([A-Za-z_]\w*)", re.IGNORECASE)
CHANGED = "the session was changed elsewhere; try again"


@dataclass(frozen=True, slots=True)
class _Held:
    sql: str
    params: dict[str, Any]
    table: str
    expect: int | None
    """The rows it must touch (fewer: it found its guard failed), None: any count."""


def _many_rows(sql: str, rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """`INSERT ... VALUES (:a, :b) ON CONFLICT ...` for every row in one statement."""
    head, rest = sql.split(" VALUES (", 1)
    one, tail = rest.split(") ", 1)
    tuples: list[str] = []
    params: dict[str, Any] = {}
    for j, row in enumerate(rows):

        def rename(match: re.Match[str], j: int = j) -> str:
            return f":r{j}_{match.group(1)}"

        tuples.append("(" + _PARAM.sub(rename, one) + ")")
        params |= {f"r{j}_{k}": v for k, v in row.items()}
    return f"{head} VALUES {', '.join(tuples)} {tail}", params


def _combined(held: list[_Held], uid: Any, stamp: int | None) -> tuple[str, dict[str, Any]]:
    """One statement: the bump (when `stamp` is None) and every held write as a CTE, each
    counting its rows; it returns the counts, then the new stamp and the zone."""
    ctes: list[str] = []
    params: dict[str, Any] = {}
    if stamp is None:
        ctes.append(f"focus_stamp AS ({BUMP.replace(':uid', ':bump_uid')})")
        params["bump_uid"] = uid
    for i, write in enumerate(held):

        def rename(match: re.Match[str], i: int = i) -> str:
            name = match.group(1)
            if name == "change_stamp" and stamp is None:
                return STAMP
            return f":w{i}_{name}"

        ctes.append(f"w{i} AS ({_PARAM.sub(rename, write.sql)} RETURNING 1)")
        params |= {f"w{i}_{k}": v for k, v in write.params.items()}
        if stamp is not None and "change_stamp" in write.params:
            params[f"w{i}_change_stamp"] = stamp
    columns = [f"(SELECT count(*) FROM w{i})" for i in range(len(held))]
    if stamp is None:
        columns += [STAMP, "(SELECT rollup_tz FROM focus_stamp)"]
    return f"WITH {', '.join(ctes)} SELECT {', '.join(columns)}", params


class LazyTx:
    """A write transaction on one Postgres connection that is opened only when needed
    (see the module docstring); it speaks the store's connection protocol."""

    def __init__(self, conn: Conn, identity: Identity) -> None:
        self.inner = conn
        self.identity = identity
        self.integrity_errors = conn.integrity_errors
        self.begun = False
        self.stamp: int | None = None
        self.zone: tzinfo | None = None
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

    async def _send(self, stamp: int | None) -> list[int]:
        """Send what is held (with the bump unless `stamp` is known) as one statement;
        the rows each held write touched."""
        held, self._held = self._held, []
        sql, params = _combined(held, self.identity.user_id, stamp)
        try:
            row = (await self.inner.fetch(sql, params))[0]
        except self.integrity_errors as exc:
            raise integrity_error(self.inner, exc) from None
        counts = [int(n) for n in row[: len(held)]]
        if any(h.expect is not None and n != h.expect for h, n in zip(held, counts, strict=True)):
            raise RefusedError(CHANGED)
        if stamp is None:
            self.stamp, self.zone = int(row[len(held)]), known_zone(row[len(held) + 1])
        return counts

    async def _begin(self) -> None:
        """Open the transaction for real, the bump and any held writes with it."""
        if self.begun:
            return
        await self.inner.begin()
        self.begun = True
        if self._held:
            await self._send(None)
        else:
            row = (await self.inner.fetch(BUMP, {"uid": self.identity.user_id}))[0]
            self.stamp, self.zone = int(row[0]), known_zone(row[1])

    async def _flush(self) -> None:
        if not self._held:
            return
        if self.begun:
            await self._send(self.stamp)
        else:
            await self._begin()

    def _stamped(self, params: Any) -> Any:
        if isinstance(params, dict) and "change_stamp" in params:
            return params | {"change_stamp": self.stamp}
        return params

    # -- the connection protocol -----------------------------------------------------------

    async def begin(self) -> None:
        await self._begin()

    async def zone_later(self) -> tzinfo | None:
        await self._begin()
        return self.zone

    async def _hold(self, write: _Held) -> None:
        # Two writes to one table wait for each other: their order can matter (an open
        # session is closed before the next one is inserted).
        if any(h.table == write.table for h in self._held):
            await self._flush()
        self._held.append(write)

    async def fetch(self, sql: str, params: Any = ()) -> list[Any]:
        # A read of tables nothing held writes to sees the same rows without them.
        if {h.table for h in self._held} & set(_TABLES.findall(sql)):
            await self._flush()
        return await self.inner.fetch(sql, params)

    async def execute(self, sql: str, params: Any = ()) -> int:
        if isinstance(params, dict):
            if sql in DEFERRABLE:
                await self._hold(_Held(sql, params, DEFERRABLE[sql], 1))
                return 1
            if sql in COUNTED:
                await self._hold(_Held(sql, params, COUNTED[sql], None))
                if self.begun:
                    return (await self._send(self.stamp))[-1]
                await self.inner.begin()
                self.begun = True
                return (await self._send(None))[-1]
        await self._begin()
        await self._flush()
        return await self.inner.execute(sql, self._stamped(params))

    async def executemany(self, sql: str, rows: Any) -> None:
        rows = list(rows)
        if not rows:
            return
        if sql in MANY and all(isinstance(r, dict) for r in rows):
            many, params = _many_rows(sql, rows)
            await self._hold(_Held(many, params, MANY[sql], len(rows)))
            return
        await self._begin()
        await self._flush()
        await self.inner.executemany(sql, [self._stamped(r) for r in rows])

    async def commit(self) -> None:
        if not self.begun:
            if len(self._held) == 1:
                await self._send(None)  # a single statement commits on its own
                return
            if not self._held:
                return  # nothing was written
            await self._begin()
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
        rows = await conn.fetch(
            "SELECT rollup_tz FROM user_state WHERE user_id = :uid", {"uid": identity.user_id}
        )
        return known_zone(rows[0][0]) if rows else None

    async def record_zone(self, conn: Conn, identity: Identity, zone: str) -> None:
        await conn.execute(SET_ZONE, {"uid": identity.user_id, "tz": zone})

    async def pending(self, conn: Conn, identity: Identity) -> int:
        return 0
