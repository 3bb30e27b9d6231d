"""Open (create, check, upgrade) the local SQLite store and hand back its Repository."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, tzinfo
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.errors import StorageError
from app.domain.models import Bucket, Status
from app.domain.rollup import rollup_entries
from storage.migrations import HEAD
from storage.repository import Identity
from storage.schema import meta, rollups
from storage.sql import SqlRepository, recount_streak
from storage.sqlite import backup, inspect_file, make_engine


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


async def _meta_values(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(meta.c.key, meta.c.value))).all()
    return {r.key: r.value for r in rows}


async def _init_meta(engine: AsyncEngine, zone: tzinfo) -> None:
    """Give a new database its identity; existing values are never replaced."""
    values = {
        "user_id": str(uuid.uuid4()),
        "client_id": str(uuid.uuid4()),
        "rollup_tz": zone_name(zone),
    }
    async with engine.connect() as conn:
        conn = await conn.execution_options(focus_write=True)
        await conn.begin()
        for key, value in values.items():
            await conn.execute(insert(meta).values(key=key, value=value).on_conflict_do_nothing())
        await conn.commit()


async def upgrade_file(path: Path, now: datetime) -> tuple[str | None, str, Path | None]:
    """Bring the file to the newest schema: (from revision, to revision, backup path)."""
    current = inspect_file(path)
    if current == HEAD:
        return current, HEAD, None
    from storage.migrate import known_revisions, upgrade

    saved = None
    if current is not None:
        if current not in known_revisions():
            raise StorageError(
                f"{path} has schema {current}, newer than this focus knows ({HEAD}); upgrade focus"
            )
        saved = backup(path, current, now)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(path)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return current, HEAD, saved


async def open_repository(path: Path, zone: tzinfo, now: datetime) -> SqlRepository:
    """The repository over `path`, created or upgraded (after a backup) as needed."""
    try:
        return await _open(path, zone, now)
    except (OperationalError, OSError) as exc:
        reason = getattr(exc, "orig", None) or getattr(exc, "strerror", None) or exc
        raise StorageError(f"cannot open database {path}: {reason}") from None


async def _open(path: Path, zone: tzinfo, now: datetime) -> SqlRepository:
    await upgrade_file(path, now)
    engine = make_engine(path)
    try:
        await _init_meta(engine, zone)
        values = await _meta_values(engine)
        identity = Identity(uuid.UUID(values["user_id"]), uuid.UUID(values["client_id"]))
        repo = SqlRepository(engine, identity, zone)
        if values.get("rollup_tz") != zone_name(zone):
            await rebuild_rollups(repo)
    except BaseException:
        await engine.dispose()
        raise
    return repo


async def rebuild_rollups(repo: SqlRepository) -> None:
    """Recount the stats cache from sessions (after a time zone change): one transaction."""
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    async for session in repo.iter_sessions():
        if session.status in (Status.COMPLETED, Status.ABANDONED, Status.EXPIRED):
            for dim, key, mode, counts in rollup_entries(session, repo.zone):
                totals[(dim, key, mode)] += counts
    user_id = repo.identity.user_id
    async with repo.engine.connect() as conn:
        conn = await conn.execution_options(focus_write=True)
        await conn.begin()
        await conn.execute(delete(rollups).where(rollups.c.user_id == user_id))
        rows = [
            {"user_id": user_id, "dim": d, "key": k, "mode": m}
            | {
                "completed": b.completed,
                "abandoned": b.abandoned,
                "expired": b.expired,
                "focused_seconds": b.focused_seconds,
                "xp": b.xp,
                "coins": b.coins,
            }
            for (d, k, m), b in totals.items()
        ]
        for start in range(0, len(rows), 500):
            await conn.execute(rollups.insert(), rows[start : start + 500])
        await recount_streak(conn, user_id)
        await conn.execute(
            insert(meta)
            .values(key="rollup_tz", value=zone_name(repo.zone))
            .on_conflict_do_update(index_elements=["key"], set_={"value": zone_name(repo.zone)})
        )
        await conn.commit()
