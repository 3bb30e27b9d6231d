"""Two devices of one user converge: after interleaved offline work and a few syncs each
holds every session exactly once, the same ledger, level, streak and stats, all equal to a
recount, and the server holds the same; a sync with nothing new pushes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.models import Mode, Status
from tests.sync.conftest import Device, check_consistent, server_view

pytestmark = pytest.mark.postgres


async def offline_week(laptop: Device, phone: Device) -> None:
    """Four days of work on two devices, never online, each day on both."""
    clock = laptop.clock
    await laptop.session(25, 25, task="Essay", tags=("writing",))
    await phone.session(30, 10, how="abandon", task="Email")
    await phone.session(5, 5, mode=Mode.SHORT_BREAK)
    clock.advance(hours=20)  # Tuesday
    await phone.session(50, 40, task="Code", tags=("deep",))
    await laptop.session(25, 25, task="Essay", tags=("writing", "deep"))
    clock.advance(hours=20)  # Wednesday
    await laptop.session(25, 60, how="open", task="Left running")  # settled later
    await phone.session(25, 25, task="Code")
    await phone.session(15, 15, mode=Mode.LONG_BREAK)


async def test_two_devices_converge_after_interleaved_offline_work(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    await offline_week(laptop, phone)
    assert await laptop.outbox() > 0 and await phone.outbox() > 0

    first = await laptop.sync()
    second = await phone.sync()
    assert first.adopted and second.adopted
    assert first.pushed > 0 and second.pushed > 0 and not first.rejected and not second.rejected
    # The phone pulled the laptop's sessions (and its own back, as the server merged them).
    assert second.pulled > 0 and second.skipped == []

    # More offline work, on both, after the first sync: the laptop's open session is
    # settled (it ran out long ago), the phone opens one and leaves it open.
    laptop.clock.advance(hours=20)  # Thursday
    await laptop.service.status()
    await laptop.session(25, 25, task="Essay")
    await phone.session(25, 12, how="open", task="Review")

    for device in (laptop, phone, laptop, phone):
        report = await device.sync()
        assert report.rejected == [] and report.skipped == [], report
        assert report.pending == 0

    lap, ph = await laptop.view(), await phone.view()
    assert lap[2] == ph[2], "both devices hold the same sessions, field for field"
    assert lap == ph, "the same stats and xp total"
    statuses = sorted(s.status.value for s in lap[2].values())
    assert statuses == sorted(["completed"] * 7 + ["abandoned", "expired", "active"]), statuses
    stats = lap[0]
    assert stats.total.completed == 7 and stats.total.abandoned == 1 and stats.total.expired == 1
    assert stats.streak.current == 4 and stats.streak.longest == 4
    assert stats.level.total_xp == lap[1] > 0
    for device in (laptop, phone):
        await check_consistent(device)

    server = await server_view(pg_admin, user)
    assert set(server.sessions) == set(lap[2]), "each session exactly once on the server"
    for sid, session in lap[2].items():
        row = server.sessions[sid]
        assert (row["status"], row["version"]) == (session.status.value, session.version)
        assert (row["xp_awarded"], row["coins_awarded"]) == (
            session.xp_awarded,
            session.coins_awarded,
        )
    paid = [s for s in lap[2].values() if s.xp_awarded or s.coins_awarded]
    assert sorted(server.ledger) == sorted(f"{s.mode.value}_complete:{s.id}" for s in paid)
    assert sum(r["xp"] for r in server.ledger.values()) == lap[1]
    assert server.rejections == []

    # A third sync on each has nothing to do: nothing pushed, nothing pulled, no change.
    stamp = server.stamp
    for device in (laptop, phone):
        again = await device.sync()
        assert (again.pushed, again.pulled, again.batches) == (0, 0, 0), again
        assert again.rejected == [] and again.skipped == [] and not again.adopted
    assert await laptop.view() == lap
    after = await server_view(pg_admin, user)
    assert after.sessions == server.sessions and after.ledger == server.ledger
    assert after.stamp == stamp, "a sync with nothing to push writes nothing on the server"


async def test_an_open_session_synced_then_finished_elsewhere_counts_once(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    """A session started on the laptop and synced open, then completed there: the phone
    first sees it open, then completed, and counts its reward once."""
    s = await laptop.session(60, 10, how="open", task="Long one")
    await laptop.sync()
    await phone.sync()
    seen = (await phone.sessions())[s.id]
    assert seen.status is Status.ACTIVE and seen.client_id == laptop.repo.identity.client_id
    # The phone can still start its own session: the open one is the laptop's.
    mine = await phone.session(25, 25, task="Phone's")
    laptop.clock.advance(minutes=20)
    done = (await laptop.service.complete()).session
    assert done.id == s.id and done.xp_awarded > 0
    for device in (laptop, phone, laptop):
        assert (await device.sync()).rejected == []
    lap, ph = await laptop.view(), await phone.view()
    assert lap == ph
    assert ph[2][s.id] == done and mine.id in lap[2]
    assert ph[1] == done.xp_awarded + mine.xp_awarded
    for device in (laptop, phone):
        await check_consistent(device)
    server = await server_view(pg_admin, user)
    assert len(server.ledger) == 2
