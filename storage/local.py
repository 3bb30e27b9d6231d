"""Open (create, check, upgrade) the local SQLite store and hand back its Repository.

Read-only opens (status, history, stats, export) never create a file, never write, and work
on an immutable file or a read-only mount; only a write open creates the database. The stats
cache is filed in one recorded time zone: a process with another zone in its environment
uses the recorded one, and only a configured zone that differs re-files the cache, once, in
one write transaction.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.errors import ReadOnlyError, StorageError
from storage.filing import rebuild_rollups, settle_zone, zone_name
from storage.migrations import HEAD
from storage.outbox import set_meta
from storage.repository import Identity
from storage.sql import Conn, SqlRepository
from storage.sqlite import SyncConn, backup, inspect_file, open_conn, shown


class NullConn(SyncConn):
    """The connection of a database that does not exist yet: every read is empty."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def begin(self) -> None:
        raise ReadOnlyError(f"no database at {shown(self.path)}")

    async def fetch(self, sql: str, params: Any = ()) -> list[Any]:
        if "coalesce(sum(" in sql or "count(*)" in sql:
            return [(0,)]
        return []

    async def execute(self, sql: str, params: Any = ()) -> int:
        raise ReadOnlyError(f"no database at {shown(self.path)}")

    async def executemany(self, sql: str, rows: Any) -> None:
        raise ReadOnlyError(f"no database at {shown(self.path)}")

    async def close(self) -> None:
        return None


async def upgrade_file(path: Path, now: datetime) -> tuple[str | None, str, Path | None]:
    """Bring the file to the newest schema: (from revision, to revision, backup path)."""
    current = inspect_file(path)
    if current == HEAD:
        return current, HEAD, None
    from storage.migrate import known_revisions, sqlite_engine, upgrade

    saved = None
    if current is not None:
        if current not in known_revisions():
            raise StorageError(
                f"{shown(path)} has schema {current}, newer than this focus knows ({HEAD}); "
                "upgrade focus"
            )
        saved = backup(path, current, now)
    elif not path.parent.is_dir():
        raise StorageError(
            f"cannot create {shown(path)}: folder {shown(path.parent)} does not exist"
        )
    from sqlalchemy.exc import OperationalError

    engine = sqlite_engine(path)
    try:
        await upgrade(engine)
    except OperationalError as exc:
        if inspect_file(path) == HEAD:
            # Another process created or upgraded the file at the same moment and won.
            return current, HEAD, saved
        from storage.sqlite import translate

        raise translate(exc.orig, path) from None  # type: ignore[arg-type]
    finally:
        await engine.dispose()
    return current, HEAD, saved


async def _meta(conn: Conn) -> dict[str, str]:
    return {str(k): str(v) for k, v in await conn.fetch("SELECT key, value FROM meta")}


def _identity(values: dict[str, str]) -> Identity | None:
    try:
        return Identity(uuid.UUID(values["user_id"]), uuid.UUID(values["client_id"]))
    except (KeyError, ValueError):
        return None


def _stored_zone(values: dict[str, str]) -> tzinfo | None:
    try:
        return ZoneInfo(values["rollup_tz"])
    except (KeyError, ValueError, ZoneInfoNotFoundError):
        return None


async def open_repository(
    path: Path,
    zone: tzinfo,
    now: datetime,
    *,
    readonly: bool = False,
    threaded: bool = False,
    zone_configured: bool = True,
) -> SqlRepository:
    """The repository over `path`.

    `readonly`: nothing is created or written here; a missing file reads as empty. Otherwise
    the file is created or upgraded (after a backup) as needed. `zone` is the zone the stats
    cache should be filed in: when `zone_configured`, a cache filed in another zone is
    re-filed; else the zone recorded in the file wins. `threaded` runs SQLite in its own
    thread (the TUI), else inline (the CLI).
    """
    revision = inspect_file(path)
    if readonly and revision is None:
        return SqlRepository(NullConn(path), Identity(uuid.uuid4(), uuid.uuid4()), zone)
    if revision != HEAD:
        if readonly and not _writable(path):
            raise StorageError(
                f"the database {shown(path)} needs a schema upgrade but is read-only"
            )
        await upgrade_file(path, now)

    async def writer() -> Conn:
        return await open_conn(path, writable=True, threaded=threaded)

    conn: Conn = await open_conn(path, writable=not readonly, threaded=threaded)
    try:
        values = await _meta(conn)
        identity = _identity(values)
        repo = SqlRepository(
            conn,
            identity or Identity(uuid.uuid4(), uuid.uuid4()),
            zone,
            # Reads never see a write in progress: the app writes on a connection of its own.
            writer if readonly or threaded else None,
            concurrent=threaded,
        )
        if identity is None:
            if readonly:
                return repo  # an interrupted creation: nothing of this device's to read
            values = await _init_meta(repo, zone)
            repo.identity = _identity(values) or repo.identity
        await settle_zone(repo, _stored_zone(values), zone, zone_configured)
        if not readonly and values.get("rollup_rules") != ROLLUP_RULES:
            await _recount_once(repo)
    except BaseException:
        await conn.close()
        raise
    return repo


ROLLUP_RULES = "2"
"""The rules the stats cache of a file is counted by (`app.domain.rollup`); 2 keeps focus
sessions completed in under a minute apart. A file counted by older rules is recounted
once, by its first write open, if any such session is not counted apart yet."""

_SHORT_UNCOUNTED = (
    "SELECT (SELECT count(*) FROM sessions WHERE user_id = :uid AND mode = 'focus' "
    "AND status = 'completed' AND focused_us < 60000000) <> coalesce((SELECT completed "
    "FROM rollups WHERE user_id = :uid AND dim = 'short' AND key = '' AND mode = 'focus'), 0)"
)


async def _recount_once(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        found = await tx.conn.fetch("SELECT value FROM meta WHERE key = 'rollup_rules'")
        if not found or found[0][0] != ROLLUP_RULES:
            uid = {"uid": tx.conn.value(repo.identity.user_id)}
            if (await tx.conn.fetch(_SHORT_UNCOUNTED, uid))[0][0]:
                await rebuild_rollups(tx)
            await set_meta(tx.conn, "rollup_rules", ROLLUP_RULES)
        await tx.commit()


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


async def _init_meta(repo: SqlRepository, zone: tzinfo) -> dict[str, str]:
    """Give a new database its identity; values another process wrote first are kept."""
    fresh = {
        "user_id": str(uuid.uuid4()),
        "client_id": str(uuid.uuid4()),
        "rollup_tz": zone_name(zone),
        "rollup_rules": ROLLUP_RULES,
    }
    async with repo.transaction() as tx:
        for key, value in fresh.items():
            await tx.conn.execute(
                "INSERT INTO meta (key, value) VALUES (:k, :v) ON CONFLICT (key) DO NOTHING",
                {"k": key, "v": value},
            )
        values = await _meta(tx.conn)
        await tx.commit()
    return values


async def rebuild_cache(repo: SqlRepository) -> None:
    """Recount the stats cache from sessions in the repository's zone, in one transaction."""
    async with repo.transaction() as tx:
        await rebuild_rollups(tx)
        await tx.commit()
