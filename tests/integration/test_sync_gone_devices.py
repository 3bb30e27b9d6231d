"""A session that a device left open and never touched again (the device was reset, or
lost) would stay open on every device for ever: another device's sync expires it through
the bulk path `focus server expire-stale` uses, once the device has been quiet for a week,
and never a session whose device may still come back with changes of its own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.models import Status
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.sync import SyncTarget, sync
from storage.sync.server import GONE_AFTER
from tests.conftest import UserFactory

pytestmark = pytest.mark.postgres
ZONE = ZoneInfo("UTC")


async def _device(path: Path, clock: FakeClock) -> tuple[Any, FocusService]:
    repo = await open_repository(path, ZONE, clock.now())
    return repo, FocusService(repo, clock, ZONE, TimerRules())


async def test_a_gone_devices_stale_session_is_expired_by_another_devices_sync(
    tmp_path: Path, pg_user: UserFactory
) -> None:
    user = await pg_user()
    target = SyncTarget(user["sync_url"])
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    gone, gone_svc = await _device(tmp_path / "gone.db", clock)
    here, here_svc = await _device(tmp_path / "here.db", clock)
    try:
        left = await gone_svc.start(minutes=25, task="left open")
        assert (await sync(gone, target, clock.now())).pushed == 1

        # A day later the session is long past its grace window, but its device may still
        # come back with changes: it stays open.
        clock.advance(days=1)
        report = await sync(here, target, clock.now())
        assert report.settled == 0
        still = await here.get_session(left.id)
        assert still is not None and still.status is Status.ACTIVE
        assert left.updated_at is not None
        clock.set(left.updated_at + GONE_AFTER + timedelta(minutes=1))
        report = await sync(here, target, clock.now())
        assert report.settled == 1
        expired = await here.get_session(left.id)
        assert expired is not None and expired.status is Status.EXPIRED
        assert (expired.xp_awarded, expired.coins_awarded) == (0, 0)
        stats = await here_svc.stats()
        assert stats.total.expired == 1
        assert (await sync(here, target, clock.now())).settled == 0  # once

        # The device comes back after all: it settles its own session too (expired by the
        # same rule), loses the merge to the server's, and both end equal.
        await gone_svc.status()
        await sync(gone, target, clock.now())
        assert await gone.get_session(left.id) == expired
        assert (await gone_svc.stats()).total == stats.total
    finally:
        await gone.close()
        await here.close()
