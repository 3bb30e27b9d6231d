"""Flows run concurrently on one service (the app's workers do): each flow's events belong to
its own transaction and are fired only after it commits, never by or with another flow."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.domain.errors import FocusError
from app.domain.models import Mode
from app.services import FocusService, TimerRules
from storage.local import open_repository


def _committed_session_changes(path: Path) -> list[tuple[str, int]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT payload FROM outbox WHERE entity = 'session' ORDER BY mutation_id"
        ).fetchall()
    finally:
        conn.close()
    return [(json.loads(r[0])["id"], json.loads(r[0])["version"]) for r in rows]


async def test_concurrent_flows_fire_exactly_the_events_they_committed(
    db_path: Path, clock: FakeClock, zone: ZoneInfo
) -> None:
    repo = await open_repository(db_path, zone, clock.now(), threaded=True)
    fired: list[tuple[str, dict[str, Any]]] = []
    service = FocusService(
        repo, clock, zone, TimerRules(), events=lambda e, s: fired.append((e, s))
    )
    rng = random.Random(7)
    actions: list[Callable[[], Awaitable[object]]] = [
        lambda: service.start(Mode.FOCUS, 5, force=rng.random() < 0.5),
        service.pause,
        service.resume,
        lambda: service.extend(1),
        service.complete,
        service.abandon,
        service.status,
    ]
    refused = 0
    try:
        for _ in range(12):
            batch = [rng.choice(actions)() for _ in range(6)]
            results = await asyncio.gather(*batch, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    assert isinstance(result, FocusError), repr(result)
                    refused += 1
            clock.advance(seconds=rng.randrange(0, 400))
    finally:
        await repo.close()
    committed = _committed_session_changes(db_path)
    reported = [(s["id"], s["version"]) for _, s in fired]
    assert refused > 0 and len(committed) > 10
    # Every committed change was reported once, in commit order, and nothing else was.
    assert reported == committed
