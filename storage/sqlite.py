"""Opening the local SQLite file safely: checks, pragmas, BEGIN IMMEDIATE, backups."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.domain.errors import StorageError

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000


def inspect_file(path: Path) -> str | None:
    """The Focus schema revision stored in `path`, or None for a file to create.

    Never writes: a path that is not a Focus database is refused before any engine (which
    would switch the journal to WAL) touches it.
    """
    if path.is_dir():
        raise StorageError(f"database path {path} is a directory")
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StorageError(f"cannot read database {path}: {exc.strerror or exc}") from None
    if header != SQLITE_MAGIC:
        raise StorageError(f"{path} is not a SQLite database; refusing to touch it")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables:
                return None
            if "alembic_version" not in tables or "meta" not in tables:
                raise StorageError(f"{path} is a SQLite database but not a Focus database")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from None
    return row[0] if row else None


def backup(path: Path, revision: str, now: datetime) -> Path:
    """Copy the database aside (WAL content included) before a schema upgrade."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    src = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's begin event below, not the driver, open every transaction.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _on_begin(conn: Any) -> None:
    # Writers take the write lock up front, so two writers never deadlock mid-transaction.
    # Readers send no BEGIN: each SELECT is atomic on its own, and a round trip is saved.
    if conn.get_execution_options().get("focus_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(path: Path) -> AsyncEngine:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{path}",
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
        # Every write ends in an explicit COMMIT or ROLLBACK and reads run in autocommit,
        # so the pool's extra reset ROLLBACK on check-in would only cost a round trip.
        pool_reset_on_return=None,
    )
    event.listen(engine.sync_engine, "connect", _on_connect)
    event.listen(engine.sync_engine, "begin", _on_begin)
    return engine
