"""Run Alembic on an async engine (both dialects); imported only when a schema changes."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)
"""Alembic keeps its context in module globals: one upgrade at a time per event loop."""


def alembic_config(connection: Any = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    lock = _LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, engine.connect() as conn:
        conn = await conn.execution_options(focus_write=True)

        def run(sync_conn: Any) -> None:
            command.upgrade(alembic_config(sync_conn), target)

        await conn.run_sync(run)
        await conn.commit()


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let the begin event below, not the driver, open every transaction.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _on_begin(conn: Any) -> None:
    if conn.get_execution_options().get("focus_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_engine(path: Path) -> AsyncEngine:
    """An aiosqlite engine on `path` (created if missing), connected through a quoted `file:`
    URI: the path is never pasted into an engine URL, where `?` and `#` would mean more."""
    import aiosqlite

    from storage.sqlite import file_uri

    async def create() -> Any:
        return await aiosqlite.connect(file_uri(path, mode="rwc"), uri=True, timeout=5)

    engine = create_async_engine(
        "sqlite+aiosqlite://", async_creator=create, pool_reset_on_return=None
    )
    event.listen(engine.sync_engine, "connect", _on_connect)
    event.listen(engine.sync_engine, "begin", _on_begin)
    return engine
