"""Sync of libraries, tracks and deletions: the same batches as sessions, simpler rules.

Push: the latest change per entity, checked, then one `unnest` statement per table. A
library or track takes the higher version (a tie keeps the server's); either way the row is
stamped anew, so the pull that follows brings the winner back to the device that lost. A
deletion leaves a tombstone and wins for good: a later upsert of a deleted entity is a
no-op, and so is a track whose library is gone.

Pull: rows stamped above the cursor, libraries, then tracks, then deletions; an entity with
changes still to push is left as it is here; a library refused here (its name still held
by one the server renamed) is tried again once the other libraries are in, then skipped and
reported. Two devices that made a library of one name offline keep both: the one pushed
second is renamed "Name (2)" by the push (see `free_names`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.domain.errors import UsageError
from app.domain.tracks import (
    MAX_NAME,
    Library,
    Track,
    library_name,
    library_type,
    track_title,
)
from storage.sync.device import Pending, Rejection, from_payload
from storage.track_codec import (
    LIBRARY_COLUMNS,
    TRACK_SYNCED,
    library_from_row,
    library_to_row,
    track_from_row,
    track_to_row,
)
from storage.track_store import plain
from storage.unit import Conn, SqlTransaction

KINDS = ("library", "track", "deletion")
_KEPT = ("user_id", "id")


def _merged(table: str, columns: Sequence[str]) -> str:
    """ON CONFLICT: the higher version's values, the row stamped anew either way."""
    sets = [
        f"{c} = CASE WHEN {table}.version < excluded.version THEN excluded.{c} ELSE {table}.{c} END"
        for c in columns
        if c not in (*_KEPT, "version", "change_stamp")
    ]
    sets += [
        f"version = greatest({table}.version, excluded.version)",
        "change_stamp = excluded.change_stamp",
    ]
    return f"ON CONFLICT (user_id, id) DO UPDATE SET {', '.join(sets)}"


def _unnest(table: str, columns: Sequence[str], types: Mapping[str, str], tail: str) -> str:
    arrays = ", ".join(f"${i}::{types[c]}[]" for i, c in enumerate(columns, 1))
    names = ", ".join(columns)
    return f"INSERT INTO {table} ({names}) SELECT {names} FROM unnest({arrays}) AS v({names}) " + (
        tail
    )


_TYPES = {
    "id": "uuid",
    "user_id": "uuid",
    "library_id": "uuid",
    "name": "text",
    "description": "text",
    "library_type": "text",
    "is_favorite": "boolean",
    "version": "int",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "added_at": "timestamptz",
    "title": "text",
    "size_bytes": "bigint",
    "sha256": "text",
    "content_type": "text",
    "duration_seconds": "int",
    "r2_key": "text",
    "upload_state": "text",
    "change_stamp": "bigint",
}
_LIB_PUSHED = (*LIBRARY_COLUMNS, "change_stamp")
_TRACK_PUSHED = (*TRACK_SYNCED, "change_stamp")


def _not_deleted(entity: str) -> str:
    return (
        "WHERE NOT EXISTS (SELECT 1 FROM deletions AS d WHERE d.user_id = v.user_id "
        f"AND d.entity = '{entity}' AND d.entity_id = v.id) "
    )


UPSERT_LIBRARIES = _unnest(
    "libraries", _LIB_PUSHED, _TYPES, _not_deleted("library") + _merged("libraries", _LIB_PUSHED)
)
UPSERT_TRACKS = _unnest(
    "tracks",
    _TRACK_PUSHED,
    _TYPES,
    _not_deleted("track") + "AND EXISTS (SELECT 1 FROM libraries AS l WHERE l.user_id = v.user_id "
    "AND l.id = v.library_id) " + _merged("tracks", _TRACK_PUSHED),
)
APPLY_DELETIONS = (
    "WITH gone(entity, entity_id, deleted_at) AS ("
    "SELECT * FROM unnest($2::text[], $3::uuid[], $4::timestamptz[])), "
    "kept AS (INSERT INTO deletions (user_id, entity, entity_id, deleted_at, change_stamp) "
    "SELECT $1, entity, entity_id, deleted_at, $5 FROM gone ON CONFLICT DO NOTHING), "
    "libs AS (DELETE FROM libraries WHERE user_id = $1 AND id IN "
    "(SELECT entity_id FROM gone WHERE entity = 'library')) "
    "DELETE FROM tracks WHERE user_id = $1 AND id IN "
    "(SELECT entity_id FROM gone WHERE entity = 'track')"
)
_PAGE = "AND change_stamp > $2 AND change_stamp <= $3 AND (change_stamp, id) > ($4, $5) "
PULL_LIBRARIES = (
    f"SELECT {', '.join(_LIB_PUSHED)} FROM libraries WHERE user_id = $1 {_PAGE}"
    "ORDER BY change_stamp, id LIMIT $6"
)
PULL_TRACKS = (
    f"SELECT {', '.join(_TRACK_PUSHED)} FROM tracks WHERE user_id = $1 {_PAGE}"
    "ORDER BY change_stamp, id LIMIT $6"
)
PULL_DELETIONS = (
    "SELECT entity, id, deleted_at, change_stamp FROM (SELECT entity, entity_id AS id, "
    f"deleted_at, change_stamp FROM deletions WHERE user_id = $1) AS d WHERE true {_PAGE}"
    "ORDER BY change_stamp, id LIMIT $6"
)


LIBRARY_NAMES = "SELECT id, name, version FROM libraries WHERE user_id = $1"


def free_names(
    libs: dict[uuid.UUID, tuple[Pending, Library]], on_server: Sequence[Any]
) -> dict[uuid.UUID, tuple[Pending, Library]]:
    """Two devices that each made a library of one name (offline; names are one whatever
    their case) keep both: the one pushed second is renamed "Jazz (2)" (a version up, so
    its device takes the new name on its next pull), never refused, which would leave its
    tracks off the server."""
    known = {row[0]: (row[1], row[2]) for row in on_server}
    taken = {name.casefold(): ident for ident, (name, _) in known.items()}
    wins = {
        ident: lib
        for ident, (_, lib) in libs.items()
        if ident not in known or known[ident][1] < lib.version
    }
    clashes = []
    for ident, lib in wins.items():  # names free, or already theirs, are claimed first
        if taken.get(lib.name.casefold(), ident) == ident:
            taken[lib.name.casefold()] = ident
        else:
            clashes.append(ident)
    out = dict(libs)
    for ident in clashes:
        change, lib = libs[ident]
        n = 2
        while (new := _suffixed(lib.name, n)).casefold() in taken:
            n += 1
        taken[new.casefold()] = ident
        out[ident] = (change, replace(lib, name=new, version=lib.version + 1))
    return out


def _suffixed(name: str, n: int) -> str:
    tail = f" ({n})"
    return name[: MAX_NAME - len(tail)].rstrip() + tail


@dataclass
class Others:
    """A batch's libraries, tracks and deletions, coalesced and checked."""

    libraries: dict[uuid.UUID, tuple[Pending, Library]] = field(default_factory=dict)
    tracks: dict[uuid.UUID, tuple[Pending, Track]] = field(default_factory=dict)
    deletions: dict[uuid.UUID, tuple[Pending, str, datetime]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.libraries or self.tracks or self.deletions)


def library_problem(lib: Library) -> str | None:
    try:
        if library_name(lib.name) != lib.name or library_type(lib.library_type) is None:
            return "a library name that is not clean"
        if len(lib.description) > 1000:
            return "a library description too long"
    except UsageError as exc:
        return str(exc)
    if lib.version < 1 or lib.updated_at < lib.created_at:
        return "a library's version or instants out of order"
    return None


def track_problem(track: Track) -> str | None:
    try:
        track_title(track.title)
    except UsageError as exc:
        return str(exc)
    sha = track.sha256 or ""
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        return "a track without a content hash"
    if (track.size_bytes or 0) < 0 or (track.duration_seconds or 0) < 0 or track.version < 1:
        return "a track's size, duration or version out of range"
    return None


def coalesce(
    fresh: Sequence[Pending], user_id: uuid.UUID, now: datetime
) -> tuple[Others, list[Rejection]]:
    """The latest state of each library and track, and each deletion (which drops the
    entity's other changes in the batch)."""
    out, rejected = Others(), []
    latest = {(c.entity, c.entity_id): c for c in fresh}
    for change in fresh:
        if latest[(change.entity, change.entity_id)] is not change:
            continue
        try:
            row = from_payload(change.payload) | {"user_id": user_id}
            if change.entity == "deletion":
                kind = str(row["entity"])
                if kind not in ("library", "track"):
                    raise ValueError(f"a deletion of {kind!r}")
                out.deletions[change.entity_id] = (change, kind, row["deleted_at"])
            elif change.entity == "library":
                lib = library_from_row(row)
                problem = library_problem(lib)
                if problem:
                    raise ValueError(problem)
                out.libraries[lib.id] = (change, lib)
            else:
                track = track_from_row(row)
                problem = track_problem(track)
                if problem:
                    raise ValueError(problem)
                out.tracks[track.id] = (change, track)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = f"malformed {change.entity} change: {exc}"
            rejected.append(
                Rejection(change.mutation_id, change.entity, change.entity_id, reason, now)
            )
    for gone in out.deletions:
        out.libraries.pop(gone, None)
        out.tracks.pop(gone, None)
    return out, rejected


def library_columns(libs: Sequence[Library], stamp: int) -> list[list[Any]]:
    rows = [[library_to_row(x)[c] for c in LIBRARY_COLUMNS] + [stamp] for x in libs]
    return [[r[i] for r in rows] for i in range(len(_LIB_PUSHED))]


def track_columns(tracks: Sequence[Track], stamp: int) -> list[list[Any]]:
    rows = [[track_to_row(x, synced_only=True)[c] for c in TRACK_SYNCED] + [stamp] for x in tracks]
    return [[r[i] for r in rows] for i in range(len(_TRACK_PUSHED))]


def deletion_columns(
    user_id: uuid.UUID, gone: Sequence[tuple[uuid.UUID, str, datetime]], stamp: int
) -> list[Any]:
    return [
        user_id,
        [kind for _, kind, _ in gone],
        [i for i, _, _ in gone],
        [at for _, _, at in gone],
        stamp,
    ]


# -- pull -----------------------------------------------------------------------------------

_LOCAL_LIB = (*LIBRARY_COLUMNS, "change_stamp")
UPSERT_LOCAL_LIBRARY = (
    f"INSERT INTO libraries ({', '.join(_LOCAL_LIB)}) "
    f"VALUES ({', '.join(':' + c for c in _LOCAL_LIB)}) ON CONFLICT (user_id, id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _LOCAL_LIB if c not in _KEPT)
)
_LOCAL_TRACK = (*TRACK_SYNCED, "change_stamp")
UPSERT_LOCAL_TRACK = (
    f"INSERT INTO tracks ({', '.join(_LOCAL_TRACK)}) "
    f"VALUES ({', '.join(':' + c for c in _LOCAL_TRACK)}) ON CONFLICT (user_id, id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _LOCAL_TRACK if c not in _KEPT)
)
LOCAL_TOMBSTONE = (
    "INSERT INTO deletions (user_id, entity, entity_id, deleted_at, change_stamp) "
    "VALUES (:user_id, :entity, :entity_id, :deleted_at, :change_stamp) "
    "ON CONFLICT (user_id, entity, entity_id) DO UPDATE SET change_stamp = excluded.change_stamp"
)


def _decoded(columns: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    return {c: plain(c, v) for c, v in zip(columns, values, strict=True)}


async def _one(c: Conn, sql: str, row: dict[str, Any]) -> str | None:
    await c.execute("SAVEPOINT pulled", ())
    try:
        await c.execute(sql, row)
    except c.integrity_errors as exc:
        await c.execute("ROLLBACK TO pulled", ())
        await c.execute("RELEASE pulled", ())
        return " ".join(str(exc).split())
    await c.execute("RELEASE pulled", ())
    return None


async def _apply(
    tx: SqlTransaction,
    rows: list[Any],
    pending: set[uuid.UUID],
    skipped: list[str],
    kind: str,
    later: list[tuple[str, dict[str, Any]]] | None = None,
) -> int:
    """Pulled libraries or tracks: checked, entities with changes to push left alone, each
    row in a savepoint. A row refused here (a library name another library holds) goes to
    `later` when given, else it is skipped and reported."""
    columns, sql = (
        (_LOCAL_LIB, UPSERT_LOCAL_LIBRARY)
        if kind == "library"
        else (_LOCAL_TRACK, UPSERT_LOCAL_TRACK)
    )
    c, applied = tx.conn, 0
    for values in rows:
        try:
            row = _decoded(columns, values) | {"user_id": tx.identity.user_id}
            if kind == "library":
                lib = library_from_row(row)
                ident, problem = lib.id, library_problem(lib)
            else:
                track = track_from_row(row)
                ident, problem = track.id, track_problem(track)
        except (KeyError, TypeError, ValueError) as exc:
            skipped.append(f"{kind} {values[0]}: unreadable ({exc})")
            continue
        if problem:
            skipped.append(f"{kind} {ident}: {problem}")
        elif ident not in pending:
            args = {k: c.value(v) for k, v in row.items()}
            why = await _one(c, sql, args)
            if why and later is not None:
                later.append((str(ident), args))
            elif why:
                skipped.append(f"{kind} {ident}: {why}")
            else:
                applied += 1
    return applied


async def apply_libraries(
    tx: SqlTransaction,
    rows: list[Any],
    pending: set[uuid.UUID],
    skipped: list[str],
    later: list[tuple[str, dict[str, Any]]] | None = None,
) -> int:
    return await _apply(tx, rows, pending, skipped, "library", later)


async def apply_later(
    tx: SqlTransaction, later: list[tuple[str, dict[str, Any]]], skipped: list[str]
) -> int:
    """Libraries refused on the first pass, once the rest are in: a library renamed on the
    server ("Jazz" to "Jazz (2)") frees its old name here only when its own row is applied,
    which may come after the row that takes the name."""
    applied = 0
    for ident, args in later:
        why = await _one(tx.conn, UPSERT_LOCAL_LIBRARY, args)
        if why:
            skipped.append(f"library {ident}: {why}")
        else:
            applied += 1
    return applied


async def apply_tracks(
    tx: SqlTransaction, rows: list[Any], pending: set[uuid.UUID], skipped: list[str]
) -> int:
    return await _apply(tx, rows, pending, skipped, "track")


async def apply_deletions(tx: SqlTransaction, rows: list[Any], skipped: list[str]) -> int:
    """Deletions win over anything here, pending changes included (the server ignores
    those: the entity's tombstone is there)."""
    c, applied = tx.conn, 0
    uid = c.value(tx.identity.user_id)
    for kind, ident, at, stamp in rows:
        table = {"library": "libraries", "track": "tracks"}.get(kind)
        if table is None:
            skipped.append(f"deletion {ident}: of {kind!r}")
            continue
        entity_id = plain("id", ident)
        applied += await c.execute(
            f"DELETE FROM {table} WHERE user_id = :uid AND id = :id",
            {"uid": uid, "id": c.value(entity_id)},
        )
        await c.execute(
            LOCAL_TOMBSTONE,
            {
                "user_id": uid,
                "entity": kind,
                "entity_id": c.value(entity_id),
                "deleted_at": c.value(at),
                "change_stamp": int(stamp),
            },
        )
    return applied
