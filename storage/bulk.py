"""Set-based writes on Postgres: one statement (one round trip) whatever the number of rows.

The reference backend's batch helpers, done right: every row keyed by (user_id, id), every
change guarded by the version it was computed from, the stamps of the users' change
counters written with it, and keys deduplicated before an upsert (Postgres refuses to
touch a row twice in one statement).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from app.domain.models import Bucket, Session
from app.domain.rollup import rollup_entries
from storage.codec import SESSION_COLUMNS, session_to_row

_FINISH_COLUMNS = (
    ("status", "text"),
    ("ends_at", "timestamptz"),
    ("paused_at", "timestamptz"),
    ("paused_remaining_us", "bigint"),
    ("paused_us", "bigint"),
    ("focused_us", "bigint"),
    ("completed_at", "timestamptz"),
    ("abandoned_at", "timestamptz"),
    ("expired_at", "timestamptz"),
    ("xp_awarded", "int"),
    ("coins_awarded", "int"),
    ("version", "int"),
    ("updated_at", "timestamptz"),
    ("change_stamp", "bigint"),
)
_KEYS = (("user_id", "uuid"), ("id", "uuid"), ("w_version", "int"))
_ALL = _KEYS + _FINISH_COLUMNS

UPDATE_STATUS = (
    "UPDATE sessions AS s SET "
    + ", ".join(f"{c} = v.{c}" for c, _ in _FINISH_COLUMNS)
    + " FROM unnest("
    + ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(_ALL, 1))
    + f") AS v({', '.join(c for c, _ in _ALL)}) "
    "WHERE s.user_id = v.user_id AND s.id = v.id AND s.version = v.w_version "
    "RETURNING s.user_id, s.id"
)

# A paused session keeps its pause (clearing it would leave a paused session with no pause
# instant): only the stale pause fields of a session no longer paused are cleared.
CLEAR_PAUSE = (
    "UPDATE sessions AS s SET paused_at = NULL, paused_remaining_us = NULL, "
    "version = s.version + 1, updated_at = $5, change_stamp = v.change_stamp "
    "FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::bigint[]) "
    "AS v(user_id, id, w_version, change_stamp) "
    "WHERE s.user_id = v.user_id AND s.id = v.id AND s.version = v.w_version "
    "AND s.status <> 'paused' "
    "AND (s.paused_at IS NOT NULL OR s.paused_remaining_us IS NOT NULL) "
    "RETURNING s.user_id, s.id"
)

_BUCKETS = ("completed", "abandoned", "expired", "focused_seconds", "xp", "coins")
ADD_ROLLUPS = (
    f"INSERT INTO rollups (user_id, dim, mode, key, {', '.join(_BUCKETS)}) "
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], "
    "$5::int[], $6::int[], $7::int[], $8::bigint[], $9::bigint[], $10::bigint[]) "
    "ON CONFLICT (user_id, dim, mode, key) DO UPDATE SET "
    + ", ".join(f"{c} = rollups.{c} + excluded.{c}" for c in _BUCKETS)
)

BUMP_USERS = (
    "INSERT INTO user_state (user_id, change_stamp) SELECT u, 1 FROM unnest($1::uuid[]) AS u "
    "ON CONFLICT (user_id) DO UPDATE SET change_stamp = user_state.change_stamp + 1 "
    "RETURNING user_id, change_stamp, rollup_tz"
)


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


async def bump_users(raw: Any, users: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[int, Any]]:
    """Bump the change counter of each user once (locking their rows, so stamps follow
    commit order): user -> (new stamp, recorded zone name)."""
    found = await raw.fetch(BUMP_USERS, sorted(set(users)))
    return {uuid.UUID(bytes=r[0].bytes): (int(r[1]), r[2]) for r in found}


async def update_status(
    raw: Any, changes: Sequence[tuple[Session, Session]], stamps: dict[uuid.UUID, int]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Write each session's new status and finish fields (pause state cleared with them)
    in one statement; returns the (user_id, id) keys written. A row changed since `before`
    was read (another version) is left alone."""
    if not changes:
        return set()
    rows = []
    for before, after in changes:
        row = session_to_row(after)
        row["change_stamp"] = stamps.get(after.user_id)
        rows.append(
            [after.user_id, after.id, before.version] + [row[c] for c, _ in _FINISH_COLUMNS]
        )
    written = await raw.fetch(UPDATE_STATUS, *_columns(rows, len(_ALL)))
    return {(uuid.UUID(bytes=r[0].bytes), uuid.UUID(bytes=r[1].bytes)) for r in written}


async def clear_pauses(
    raw: Any,
    sessions: Sequence[Session],
    now: datetime,
    stamps: dict[uuid.UUID, int],
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Clear the stale pause state of many sessions in one statement; returns the
    (user_id, id) keys written. `sessions` are the rows as read: one changed since (another
    version), or still paused, is left alone."""
    if not sessions:
        return set()
    users = [s.user_id for s in sessions]
    written = await raw.fetch(
        CLEAR_PAUSE,
        users,
        [s.id for s in sessions],
        [s.version for s in sessions],
        [stamps.get(u) for u in users],
        now,
    )
    return {(uuid.UUID(bytes=r[0].bytes), uuid.UUID(bytes=r[1].bytes)) for r in written}


async def add_rollups(raw: Any, sessions: Iterable[tuple[Session, tzinfo]]) -> None:
    """Add finished sessions to their users' stats cache in one upsert (keys merged first)."""
    totals: dict[tuple[uuid.UUID, str, str, str], Bucket] = defaultdict(Bucket)
    for session, zone in sessions:
        for dim, key, mode, counts in rollup_entries(session, zone):
            totals[(session.user_id, dim, mode, key)] += counts
    if not totals:
        return
    rows = [[*k, *(getattr(b, c) for c in _BUCKETS)] for k, b in totals.items()]
    await raw.execute(ADD_ROLLUPS, *_columns(rows, 10))


def stale_query(device: bool) -> str:
    """Open sessions past their grace window (an active one a planned duration after its
    end, a paused one `max_pause` after pausing); for a device, only other devices' that
    nothing changed since `$3`."""
    sql = (
        f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions "
        "WHERE status IN ('active', 'paused') AND ("
        "(status = 'active' AND ends_at + planned_seconds * interval '1 second' < $1) OR "
        "(status = 'paused' AND paused_at + $2::interval < $1)) "
    )
    if device:
        sql += "AND updated_at < $3 AND client_id <> $4 "
    return sql + "FOR UPDATE SKIP LOCKED"


async def expire_stale(
    raw: Any,
    now: datetime,
    max_pause: timedelta,
    default_zone: tzinfo,
    device: tuple[datetime, uuid.UUID] | None = None,
) -> list[tuple[Session, Session]]:
    """Expire every session the connection sees that was left open past its grace window,
    inside the caller's transaction, in four set-based statements whatever their number
    (find, stamp, update, stats). Sessions within the window are left for their device to
    complete (with the reward it earned). `device` (idle since, this device's client id)
    scopes it to other devices' sessions nothing changed for a long while: the sync of one
    of the user's devices settles what a device that is gone left open."""
    from app.domain.models import Status
    from app.domain.timer import settle
    from storage.filing import known_zone
    from storage.postgres import session_from_pg

    args = (now, max_pause, *device) if device else (now, max_pause)
    changes = []
    for row in await raw.fetch(stale_query(device is not None), *args):
        before = session_from_pg(tuple(row))
        after = settle(before, now, max_pause)
        if after.status is Status.EXPIRED:
            changes.append((before, after))
    if not changes:
        return []
    users = await bump_users(raw, (a.user_id for _, a in changes))
    stamps = {u: stamp for u, (stamp, _) in users.items()}
    written = await update_status(raw, changes, stamps)
    done = [(b, a) for b, a in changes if (a.user_id, a.id) in written]
    await add_rollups(raw, ((a, known_zone(users[a.user_id][1]) or default_zone) for _, a in done))
    return done
