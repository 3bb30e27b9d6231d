"""A file whose stats cache was counted before sub-minute focus completions were kept apart
is recounted once, by its first write open (a read-only open writes nothing)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.services import FocusService, TimerRules
from storage.local import open_repository

UTC = ZoneInfo("UTC")


def as_older_version(path: Path) -> None:
    """What an older Focus left: no 'short' rows, no record of the rules it counted by."""
    db = sqlite3.connect(path)
    with db:
        db.execute("DELETE FROM rollups WHERE dim = 'short'")
        db.execute("DELETE FROM meta WHERE key = 'rollup_rules'")
    db.close()


async def test_an_older_cache_is_recounted_once_by_a_write_open(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "focus.db"
    repo = await open_repository(path, UTC, clock.now())
    service = FocusService(repo, clock, UTC, TimerRules())
    await service.start(minutes=25)
    clock.advance(seconds=30)
    await service.complete()
    await service.start(minutes=25)
    clock.advance(minutes=25)
    await service.complete()
    assert ((await service.stats()).focus.completed, (await service.stats()).focus.too_short) == (
        1,
        1,
    )
    await repo.close()
    as_older_version(path)

    reader = await open_repository(path, UTC, clock.now(), readonly=True)
    before = path.read_bytes()
    stats = await FocusService(reader, clock, UTC).stats()
    assert (stats.focus.completed, stats.focus.too_short) == (2, 0)  # counted the old way
    await reader.close()
    assert path.read_bytes() == before

    writer = await open_repository(path, UTC, clock.now())
    stats = await FocusService(writer, clock, UTC).stats()
    assert (stats.focus.completed, stats.focus.too_short) == (1, 1)
    assert await writer.device_value("rollup_rules") == "2"
    await writer.close()
    marked = path.read_bytes()
    again = await open_repository(path, UTC, clock.now())
    await again.close()
    assert path.read_bytes() == marked  # once only
