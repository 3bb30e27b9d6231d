"""Libraries and tracks in either store: one transaction per operation, each change
recorded like a session's (an outbox row on a device, the user's change stamp on Postgres).

A deletion is a row of its own (`deletions`, a tombstone): deleted rows leave nothing for a
pull to carry. Deleting a library deletes its tracks by the foreign key's cascade, in the
one statement; its tombstone alone tells the other devices (theirs cascade the same way).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from app.domain.errors import RefusedError
from app.domain.tracks import Library, Track
from storage.codec import DATETIME_COLUMNS, UUID_COLUMNS, from_sqlite
from storage.track_codec import (
    LIBRARY_COLUMNS,
    TRACK_COLUMNS,
    library_from_row,
    library_to_row,
    track_from_row,
    track_to_row,
)
from storage.unit import Change, Conn, SqlTransaction

_LIB = ", ".join(LIBRARY_COLUMNS)
_TRACK = ", ".join(TRACK_COLUMNS)
INSERT_LIBRARY = (
    f"INSERT INTO libraries ({_LIB}, change_stamp) "
    f"VALUES ({', '.join(':' + c for c in LIBRARY_COLUMNS)}, :change_stamp)"
)
UPDATE_LIBRARY = (
    "UPDATE libraries SET name = :name, description = :description, "
    "library_type = :library_type, is_favorite = :is_favorite, version = :version, "
    "updated_at = :updated_at, change_stamp = :change_stamp "
    "WHERE user_id = :user_id AND id = :id AND version = :w_version"
)
INSERT_TRACK = (
    f"INSERT INTO tracks ({_TRACK}, change_stamp) "
    f"VALUES ({', '.join(':' + c for c in TRACK_COLUMNS)}, :change_stamp)"
)
UPDATE_TRACK = (
    "UPDATE tracks SET "
    + ", ".join(f"{c} = :{c}" for c in TRACK_COLUMNS if c not in ("user_id", "id"))
    + ", change_stamp = :change_stamp WHERE user_id = :user_id AND id = :id "
    "AND version = :w_version"
)
TOMBSTONE = (
    "INSERT INTO deletions (user_id, entity, entity_id, deleted_at, change_stamp) "
    "VALUES (:user_id, :entity, :entity_id, :deleted_at, :change_stamp) "
    "ON CONFLICT (user_id, entity, entity_id) DO NOTHING"
)
LIBRARIES = (
    f"SELECT {', '.join('l.' + c for c in LIBRARY_COLUMNS)}, "
    "(SELECT count(*) FROM tracks AS t WHERE t.user_id = l.user_id AND t.library_id = l.id) "
    "FROM libraries AS l WHERE l.user_id = :uid"
)
TRACKS = f"SELECT {_TRACK} FROM tracks WHERE user_id = :uid"


def plain(column: str, value: Any) -> Any:
    """A stored value of either store as the Python value of `column`."""
    if value is None:
        return None
    if column in UUID_COLUMNS:
        return value if type(value) is uuid.UUID else uuid.UUID(str(value))
    if column in DATETIME_COLUMNS and isinstance(value, str):
        return from_sqlite(column, value)
    return value


def _decode(columns: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    return {c: plain(c, v) for c, v in zip(columns, values, strict=False)}


def _library(values: Sequence[Any]) -> Library:
    return library_from_row(_decode(LIBRARY_COLUMNS, values), int(values[len(LIBRARY_COLUMNS)]))


def _track(values: Sequence[Any]) -> Track:
    return track_from_row(_decode(TRACK_COLUMNS, values))


def _stamped(tx: SqlTransaction, row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tx.conn.value(v) for k, v in row.items()} | {"change_stamp": tx.stamp}


async def insert_library(tx: SqlTransaction, lib: Library) -> None:
    row = library_to_row(lib)
    await _write(tx, INSERT_LIBRARY, _stamped(tx, row), f"a library named {lib.name!r}")
    tx.changes.append(Change("library", lib.id, lib.version, row))


async def update_library(tx: SqlTransaction, before: Library, after: Library) -> None:
    row = library_to_row(after)
    params = _stamped(tx, row) | {"w_version": before.version}
    if await _write(tx, UPDATE_LIBRARY, params, f"a library named {after.name!r}") != 1:
        raise RefusedError("the library was changed elsewhere; try again")
    tx.changes.append(Change("library", after.id, after.version, row))


async def insert_track(tx: SqlTransaction, track: Track) -> None:
    await _write(tx, INSERT_TRACK, _stamped(tx, track_to_row(track)), "that track")
    tx.changes.append(
        Change("track", track.id, track.version, track_to_row(track, synced_only=True))
    )


async def update_track(tx: SqlTransaction, before: Track, after: Track) -> None:
    params = _stamped(tx, track_to_row(after)) | {"w_version": before.version}
    if await tx.conn.execute(UPDATE_TRACK, params) != 1:
        raise RefusedError("the track was changed elsewhere; try again")
    if after.version > before.version:  # a device-only change (an upload attempt) stays here
        tx.changes.append(
            Change("track", after.id, after.version, track_to_row(after, synced_only=True))
        )


async def delete(tx: SqlTransaction, entity: str, entity_id: uuid.UUID, at: datetime) -> bool:
    """Delete a library (its tracks by cascade) or a track, leaving its tombstone."""
    table = {"library": "libraries", "track": "tracks"}[entity]
    c = tx.conn
    uid = c.value(tx.identity.user_id)
    gone = await c.execute(
        f"DELETE FROM {table} WHERE user_id = :uid AND id = :id",
        {"uid": uid, "id": c.value(entity_id)},
    )
    if not gone:
        return False
    row = {"user_id": tx.identity.user_id, "entity": entity, "entity_id": entity_id}
    await c.execute(TOMBSTONE, _stamped(tx, row | {"deleted_at": at}))
    tx.changes.append(Change("deletion", entity_id, 1, row | {"deleted_at": at}))
    return True


async def _write(tx: SqlTransaction, sql: str, params: dict[str, Any], what: str) -> int:
    try:
        return await tx.conn.execute(sql, params)
    except tx.conn.integrity_errors:
        raise RefusedError(f"{what} exists already") from None


async def libraries(conn: Conn, user_id: uuid.UUID) -> list[Library]:
    """Favourites first, then the newest; each with the tracks it holds now."""
    rows = await conn.fetch(
        LIBRARIES + " ORDER BY l.is_favorite DESC, l.created_at DESC, l.id",
        {"uid": conn.value(user_id)},
    )
    return [_library(r) for r in rows]


async def tracks(conn: Conn, user_id: uuid.UUID, library_id: uuid.UUID | None) -> list[Track]:
    """Oldest first (the order they were added), in one library or all."""
    where = " AND library_id = :lib" if library_id is not None else ""
    params = {"uid": conn.value(user_id)}
    if library_id is not None:
        params["lib"] = conn.value(library_id)
    rows = await conn.fetch(TRACKS + where + " ORDER BY added_at, id", params)
    return [_track(r) for r in rows]
