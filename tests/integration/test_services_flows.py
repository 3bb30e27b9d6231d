"""The services on a real SQLite file, where it is not the repository contract: argument
checks, and hook events emitted only after the commit, seen from another connection to the
file. The flows themselves (lifecycle, rewards, settling, refusals, history, stats) run on
SQLite and Postgres in tests/contract."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import UsageError
from app.services import FocusService
from storage.sql import SqlRepository

Events = list[tuple[str, dict[str, Any]]]


async def test_history_limit_and_cursor_are_validated(service: FocusService) -> None:
    for limit in (0, -1, 1001):
        with pytest.raises(UsageError, match="limit"):
            await service.history(limit=limit)
    for cursor in ("garbage", "!!!", "MjAyNg"):
        with pytest.raises(UsageError, match="cursor"):
            await service.history(before=cursor)


async def test_events_are_emitted_after_the_commit_with_the_committed_state(
    repo: SqlRepository, clock: FakeClock, zone: ZoneInfo, db_path: Path
) -> None:
    """Each sink call sees, from another connection, the very version it reports."""
    seen: list[tuple[str, str, int, str]] = []

    def sink(event: str, payload: dict[str, Any]) -> None:
        conn = sqlite3.connect(db_path)
        try:
            row = conn.execute(
                "SELECT status, version FROM sessions WHERE id = ?",
                (uuid.UUID(payload["id"]).hex,),
            ).fetchone()
        finally:
            conn.close()
        assert row == (payload["status"], payload["version"]), (event, row, payload)
        seen.append((event, payload["status"], payload["version"], payload["started_at"]))

    service = FocusService(repo, clock, zone, events=sink)
    await service.start(minutes=25, task="hooked")
    clock.advance(minutes=5)
    await service.pause()
    clock.advance(minutes=5)
    await service.resume()
    await service.extend(5)
    clock.advance(minutes=5)
    await service.start(minutes=10, force=True)
    clock.advance(minutes=8)
    await service.complete()
    assert [(e, st, v) for e, st, v, _ in seen] == [
        ("start", "active", 1),
        ("pause", "paused", 2),
        ("resume", "active", 3),
        ("extend", "active", 4),
        ("abandon", "abandoned", 5),
        ("start", "active", 1),
        ("complete", "completed", 2),
    ]
    assert all(ts.endswith("+00:00") for *_, ts in seen)
