"""The statements sync sends to the shared Postgres, as the user's own login role (row-level
security in force): a push is one transaction of a constant number of statements, whatever
the number of rows, each table written by one set-based statement over `unnest` arrays.

Round trips are counted by `Link`, the one connection a sync talks through.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import JSON as SA_JSON
from sqlalchemy import BigInteger, Boolean, Integer, String, Text, Uuid

from app.domain.models import LedgerEntry, Session
from app.domain.rewards import day_runs
from storage import bulk
from storage.codec import SESSION_COLUMNS, ledger_to_row, session_to_row
from storage.postgres import PgConn, session_from_pg
from storage.schema import ledger as ledger_table
from storage.schema import sessions as sessions_table

ZERO = uuid.UUID(int=0)
TERMINAL = "('completed', 'abandoned', 'expired')"


def _pg_type(column: Any) -> str:
    kind = column.type
    if isinstance(kind, Uuid):
        return "uuid"
    if isinstance(kind, SA_JSON):
        return "json"
    if isinstance(kind, BigInteger):
        return "bigint"
    if isinstance(kind, Integer):
        return "int"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, String | Text):
        return "text"
    return "timestamptz"


def _upsert(table: Any, columns: Sequence[str], conflict: str) -> str:
    """`INSERT ... SELECT FROM unnest(one array per column)`: JSON goes as text (an array of
    Python lists would read as a second dimension) and is cast back in the select list."""
    types = {c.name: _pg_type(c) for c in table.columns}
    arrays = ", ".join(
        f"${i}::{'text' if types[c] == 'json' else types[c]}[]" for i, c in enumerate(columns, 1)
    )
    picked = ", ".join(f"{c}::json" if types[c] == "json" else c for c in columns)
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {picked} "
        f"FROM unnest({arrays}) AS v({', '.join(columns)}) {conflict}"
    )


JSON_PUSHED = frozenset(c.name for c in sessions_table.columns if _pg_type(c) == "json")


PUSHED_SESSION = (*SESSION_COLUMNS, "change_stamp", "changed_by")
# The merge rule, as the server applies it: a finished session stays as it finished;
# otherwise the higher version wins, a tie going to the higher device (client) id.
UPSERT_SESSIONS = _upsert(
    sessions_table,
    PUSHED_SESSION,
    "ON CONFLICT (user_id, id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in PUSHED_SESSION if c not in ("user_id", "id"))
    + f" WHERE sessions.status NOT IN {TERMINAL} AND (excluded.status IN {TERMINAL} OR "
    f"(excluded.version, excluded.changed_by) > "
    f"(sessions.version, coalesce(sessions.changed_by, '{ZERO}'::uuid))) RETURNING id",
)
LEDGER_COLUMNS = (
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
INSERT_LEDGER = _upsert(ledger_table, LEDGER_COLUMNS, "ON CONFLICT DO NOTHING RETURNING id")

HEAD = (
    "WITH bump AS (INSERT INTO user_state (user_id, change_stamp, rollup_tz) "
    "VALUES ($1, 1, $3) ON CONFLICT (user_id) DO UPDATE SET "
    "change_stamp = user_state.change_stamp + 1, "
    "rollup_tz = coalesce(user_state.rollup_tz, excluded.rollup_tz) "
    "RETURNING change_stamp, rollup_tz), "
    "client AS (INSERT INTO sync_clients (user_id, client_id, last_mutation_id, updated_at) "
    "VALUES ($1, $2, 0, $4) ON CONFLICT (user_id, client_id) DO UPDATE SET "
    "updated_at = excluded.updated_at RETURNING last_mutation_id, last_change) "
    "SELECT bump.change_stamp, bump.rollup_tz, client.last_mutation_id, client.last_change "
    "FROM bump, client"
)
_COLS = ", ".join(f"s.{c}" for c in SESSION_COLUMNS)
EXISTING = (
    f"SELECT {_COLS}, s.changed_by, EXISTS (SELECT 1 FROM ledger AS l WHERE "
    "l.user_id = s.user_id AND l.idempotency_key = s.mode || '_complete:' || s.id::text) "
    "FROM sessions AS s WHERE s.user_id = $1 AND s.id = ANY($2::uuid[])"
)
FOCUS_DAYS = (
    "SELECT key FROM rollups WHERE user_id = $1 AND dim = 'day' AND mode = 'focus' AND xp > 0"
)
STORE_RUNS = (
    "INSERT INTO streak_cache (user_id, longest, last_day, last_run) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT (user_id) DO UPDATE SET longest = excluded.longest, "
    "last_day = excluded.last_day, last_run = excluded.last_run"
)
TAIL = (
    "WITH r AS (INSERT INTO sync_rejections (user_id, client_id, mutation_id, entity, "
    "entity_id, reason, created_at) SELECT $1, $2, m, e, i, why, $7 FROM "
    "unnest($3::bigint[], $4::text[], $5::uuid[], $6::text[]) AS v(m, e, i, why) "
    "ON CONFLICT DO NOTHING RETURNING 1) "
    "UPDATE sync_clients SET last_mutation_id = $8, last_change = $9, updated_at = $7 "
    "WHERE user_id = $1 AND client_id = $2 AND last_mutation_id < $8"
)

PULL_STAMP = "SELECT coalesce(max(change_stamp), 0) FROM user_state WHERE user_id = $1"
PULL_SESSIONS = (
    f"SELECT {', '.join(SESSION_COLUMNS)}, change_stamp FROM sessions WHERE user_id = $1 "
    "AND change_stamp > $2 AND change_stamp <= $3 AND (change_stamp, id) > ($4, $5) "
    "ORDER BY change_stamp, id LIMIT $6"
)
PULL_LEDGER = (
    f"SELECT {', '.join(LEDGER_COLUMNS)} FROM ledger WHERE user_id = $1 "
    "AND change_stamp > $2 AND change_stamp <= $3 AND (change_stamp, id) > ($4, $5) "
    "ORDER BY change_stamp, id LIMIT $6"
)


class Link:
    """The connection a sync talks through, counting its round trips."""

    def __init__(self, conn: PgConn) -> None:
        self.conn = conn
        self.raw = conn.raw
        self.round_trips = 0

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.round_trips += 1
        return list(await self.raw.fetch(sql, *args))

    async def execute(self, sql: str, *args: Any) -> str:
        self.round_trips += 1
        return str(await self.raw.execute(sql, *args))


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


def session_rows(sessions: Iterable[tuple[Session, uuid.UUID]], stamp: int) -> list[list[Any]]:
    """Sessions (each with the device that changed it) as `unnest` columns; finished ones
    first, so a device's session closed and its next one opened in one batch never hold
    two open sessions at once."""
    rows = []
    for session, writer in sorted(sessions, key=lambda p: p[0].status.is_open):
        row = session_to_row(session)
        rows.append(
            [json.dumps(row[c]) if c in JSON_PUSHED else row[c] for c in SESSION_COLUMNS]
            + [stamp, writer]
        )
    return _columns(rows, len(PUSHED_SESSION))


def ledger_rows(entries: Iterable[LedgerEntry], stamp: int) -> list[list[Any]]:
    rows = []
    for entry in entries:
        row = ledger_to_row(entry)
        rows.append([row[c] for c in LEDGER_COLUMNS[:-1]] + [stamp])
    return _columns(rows, len(LEDGER_COLUMNS))


def existing_session(values: Sequence[Any]) -> tuple[Session, uuid.UUID, bool]:
    """A pre-read row: the session, the device that last changed it, whether it is paid."""
    width = len(SESSION_COLUMNS)
    writer = values[width]
    return (
        session_from_pg(values[:width]),
        uuid.UUID(bytes=writer.bytes) if writer is not None else ZERO,
        bool(values[width + 1]),
    )


async def add_rollups(link: Link, finished: Sequence[Session], zone: tzinfo) -> None:
    if finished:
        link.round_trips += 1
        await bulk.add_rollups(link.raw, [(s, zone) for s in finished])


async def recount_streak(link: Link, user_id: uuid.UUID, zone: tzinfo) -> None:
    keys = await link.fetch(FOCUS_DAYS, user_id)
    longest, last_day, last_run = day_runs((date.fromisoformat(k[0]) for k in keys), zone)
    await link.execute(
        STORE_RUNS, user_id, longest, last_day.isoformat() if last_day else None, last_run
    )


async def finish_push(
    link: Link,
    identity: tuple[uuid.UUID, uuid.UUID],
    rejected: Sequence[tuple[int, str, uuid.UUID, str]],
    through: tuple[int, str],
    now: datetime,
) -> None:
    """Record the rejections and move the device's last applied change to `through`
    (its id and fingerprint)."""
    user_id, client_id = identity
    columns = _columns(rejected, 4) if rejected else [[], [], [], []]
    await link.execute(TAIL, user_id, client_id, *columns, now, *through)


GONE_AFTER = timedelta(days=7)
"""A device that changed its open session this long ago and never since is taken for gone."""


async def settle_gone(link: Link, client_id: uuid.UUID, now: datetime, max_pause: timedelta) -> int:
    """Expire, through the same set-based path as `focus server expire-stale` (one statement
    each to find, stamp, update and file them), the user's sessions that other devices left
    open past their grace window and have not touched for `GONE_AFTER` (a device reset, or
    lost): they would stay open on every device for ever. The pull that follows brings the
    result here. One round trip when there is nothing to settle."""
    scope = (now - GONE_AFTER, client_id)
    if not await link.fetch(bulk.stale_query(True), now, max_pause, *scope):
        return 0
    await link.execute("BEGIN")
    try:
        done = await bulk.expire_stale(link.raw, now, max_pause, UTC, scope)
        link.round_trips += 4
        await link.execute("COMMIT")
    except BaseException:
        if not link.raw.is_closed() and link.raw.is_in_transaction():
            await link.raw.execute("ROLLBACK")
        raise
    return len(done)
