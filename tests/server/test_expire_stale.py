"""`focus server expire-stale`: across users, every session left open past its grace window
expires (stats and change stamps with it); sessions within their window are left to their
device; a second run finds nothing more."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.clock import FakeClock, SystemClock
from app.domain import timer
from app.domain.models import Bucket, Session, Status
from app.domain.rollup import rollup_entries
from app.services import FocusService, TimerRules
from storage.codec import SESSION_COLUMNS
from storage.postgres import open_pg_repository, session_from_pg
from tests.conftest import UserFactory
from tests.e2e.conftest import make_focus
from tests.server.support import connection, rows_of

pytestmark = pytest.mark.postgres

MAX_PAUSE = timedelta(minutes=60)


async def started(
    user: dict[str, Any],
    at: datetime,
    minutes: float = 25,
    pause_after: float | None = None,
    history: bool = False,
    **options: Any,
) -> uuid.UUID:
    """A session started by the user's own repository at `at` (a clock in the past), and
    paused `pause_after` minutes in; with `history`, one completed session before it."""
    clock = FakeClock(at - timedelta(hours=1) if history else at)
    repo = await open_pg_repository(user["sync_url"], UTC)
    try:
        service = FocusService(repo, clock, UTC, TimerRules())
        if history:
            await service.start(task="earlier", minutes=20)
            clock.set(at - timedelta(minutes=40))
            await service.complete()
            clock.set(at)
        session = await service.start(minutes=minutes, **options)
        if pause_after is not None:
            clock.advance(minutes=pause_after)
            session = await service.pause()
    finally:
        await repo.close()
    return session.id


async def sessions_of(raw: Any, user_id: uuid.UUID) -> dict[uuid.UUID, tuple[Session, Any]]:
    rows = await raw.fetch(
        f"SELECT {', '.join(SESSION_COLUMNS)}, change_stamp FROM sessions WHERE user_id = $1",
        user_id,
    )
    found = {}
    for row in rows:
        session = session_from_pg(tuple(row)[:-1])
        found[session.id] = (session, row["change_stamp"])
    return found


async def rollups_of(raw: Any, user_id: uuid.UUID) -> dict[tuple[str, str, str], Bucket]:
    rows = await raw.fetch(
        "SELECT dim, mode, key, completed, abandoned, expired, focused_seconds, xp, coins "
        "FROM rollups WHERE user_id = $1",
        user_id,
    )
    return {(r[0], r[1], r[2]): Bucket(*r[3:]) for r in rows}


async def stamp_of(raw: Any, user_id: uuid.UUID) -> int:
    return int(
        await raw.fetchval("SELECT change_stamp FROM user_state WHERE user_id = $1", user_id)
    )


async def test_expire_stale_expires_every_user_session_past_its_window_once(
    pg_admin: str, pg_user: UserFactory, tmp_path: Path
) -> None:
    now = SystemClock().now()
    users = {name: await pg_user() for name in ("ran", "paused", "long", "grace", "pause", "on")}
    ids = {
        # Past the grace window (one planned duration after the end): expired.
        "ran": await started(
            users["ran"], now - timedelta(hours=2), task="deep", tags=["q3"], history=True
        ),
        "long": await started(users["long"], now - timedelta(hours=5), minutes=50),
        # Paused longer than the maximum pause: expired when the maximum ran out.
        "paused": await started(users["paused"], now - timedelta(hours=3), pause_after=5),
        # Within their window: left to their device (which completes them with the reward).
        "grace": await started(users["grace"], now - timedelta(minutes=40)),
        "pause": await started(users["pause"], now - timedelta(minutes=40), pause_after=10),
        "on": await started(users["on"], now - timedelta(minutes=5)),
    }
    stale = {"ran", "long", "paused"}
    user_ids = {name: uuid.UUID(u["user_id"]) for name, u in users.items()}
    async with connection(pg_admin) as raw:
        await raw.set_type_codec(
            "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        before = {n: await sessions_of(raw, u) for n, u in user_ids.items()}
        rollups = {n: await rollups_of(raw, u) for n, u in user_ids.items()}
        stamps = {n: await stamp_of(raw, u) for n, u in user_ids.items()}

    focus = make_focus(tmp_path)
    command = ("server", "expire-stale", "--admin-url", pg_admin, "--max-pause-minutes", "60")
    report = focus.json(*command, db=False)
    assert report == {"expired": 3, "users": 3}
    after_run = SystemClock().now()

    async with connection(pg_admin) as raw:
        await raw.set_type_codec(
            "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        for name, user_id in user_ids.items():
            found = await sessions_of(raw, user_id)
            session_id = ids[name]
            old, _ = before[name][session_id]
            session, stamp = found[session_id]
            others = {k: v for k, v in found.items() if k != session_id}
            assert others == {k: v for k, v in before[name].items() if k != session_id}
            if name not in stale:
                assert (session, stamp) == before[name][session_id], name
                assert await stamp_of(raw, user_id) == stamps[name], name
                assert await rollups_of(raw, user_id) == rollups[name], name
                continue
            expected = timer.settle(old, after_run, MAX_PAUSE)
            assert expected.status is Status.EXPIRED
            assert session == expected, name
            assert await stamp_of(raw, user_id) == stamps[name] + 1 == stamp, name
            added: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
            for dim, key, mode, counts in rollup_entries(expected, UTC):
                added[(dim, mode, key)] += counts
            merged = dict(rollups[name])
            for slot, counts in added.items():
                merged[slot] = merged.get(slot, Bucket()) + counts
            assert await rollups_of(raw, user_id) == merged, name
        assert rollups["ran"][("all", "focus", "")].completed == 1  # added to, not replaced

    # The users' own repositories see it: the expired session is no longer open.
    for name in ("ran", "paused", "grace"):
        repo = await open_pg_repository(users[name]["sync_url"], UTC)
        try:
            mine = await repo.get_session(ids[name])
            assert mine is not None
            assert (mine.status is Status.EXPIRED) == (name in stale)
            totals = await repo.totals_by_mode()
            assert sum(b.expired for b in totals.values()) == int(name in stale)
        finally:
            await repo.close()

    # Once more: nothing is stale any longer; nothing changes.
    async with connection(pg_admin) as raw:
        snapshot = {n: await rows_of(raw, u) for n, u in user_ids.items()}
    assert focus.json(*command, db=False) == {"expired": 0, "users": 0}
    async with connection(pg_admin) as raw:
        assert {n: await rows_of(raw, u) for n, u in user_ids.items()} == snapshot
