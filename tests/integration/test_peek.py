"""The read-only status path sees exactly what the repository sees, and never writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import JSON, DateTime, Uuid

from app.clock import FakeClock
from app.services import FocusService
from storage.codec import DATETIME_COLUMNS, JSON_COLUMNS, SESSION_COLUMNS, UUID_COLUMNS
from storage.peek import PeekUnavailable, peek_open_session
from storage.schema import metadata, sessions
from storage.sql import SqlRepository


def test_column_lists_match_the_schema() -> None:
    """The codec's SQLite conversions name exactly the schema's UUID, instant and JSON
    columns, and the session column list is the table's, in order."""
    columns = [c for t in metadata.sorted_tables for c in t.columns]
    uuids = {c.name for c in columns if isinstance(c.type, Uuid)}
    instants = {
        c.name
        for c in columns
        if isinstance(c.type.impl if hasattr(c.type, "impl") else c.type, DateTime)
    }
    assert uuids == UUID_COLUMNS
    assert instants == DATETIME_COLUMNS
    assert {c.name for c in columns if isinstance(c.type, JSON)} == JSON_COLUMNS
    assert tuple(c.name for c in sessions.columns) == SESSION_COLUMNS


async def test_peek_matches_the_repository_and_leaves_the_file_alone(
    service: FocusService, clock: FakeClock, repo: SqlRepository, db_path: Path
) -> None:
    assert peek_open_session(db_path) is None
    await service.start(task="Écrire", tags=["deep"], minutes=30)
    clock.advance(minutes=7)
    paused = await service.pause()
    await repo.close()
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    assert peek_open_session(db_path) == paused
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before


def test_peek_declines_what_it_cannot_answer(tmp_path: Path) -> None:
    with pytest.raises(PeekUnavailable):
        peek_open_session(tmp_path / "missing.db")
    other = tmp_path / "other.db"
    import sqlite3

    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.close()
    with pytest.raises(PeekUnavailable):
        peek_open_session(other)
