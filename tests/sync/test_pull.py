"""Pull: what changed on the server since the device's cursor, applied without outbox rows;
never over an entity that still has changes to push (the push that sends them merges on the
server, and the winner comes back with the next pull)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from app.domain.models import Status
from storage.pg_connect import Timeouts, parse_url
from storage.postgres import open_conn
from storage.server import admin_target, expire_stale
from storage.sync.pull import pull
from storage.sync.server import Link
from tests.sync.conftest import Device, check_consistent, server_view

pytestmark = pytest.mark.postgres


async def test_pulled_data_never_overwrites_an_entity_with_pending_changes(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    clock = laptop.clock
    s = await laptop.service.start(minutes=25, task="left alone")
    await laptop.sync()
    await phone.sync()
    assert (await phone.sessions())[s.id].status is Status.ACTIVE

    clock.advance(minutes=10)
    paused = await laptop.service.pause()  # offline: a change still to push
    assert await laptop.outbox() == 1
    # Meanwhile the server expires the session it last saw active, long past its grace.
    gone = await expire_stale(
        admin_target(pg_admin, Timeouts()), clock.now() + timedelta(hours=1), timedelta(hours=1)
    )
    assert gone["expired"] >= 1  # (other tests' users share the database)
    assert (await server_view(pg_admin, user)).sessions[s.id]["status"] == "expired"

    # A pull that runs while the pause is still pending (it was made during the sync):
    # the session is left as it is here, the pending change is kept.
    conn = await open_conn(parse_url(user["sync_url"]), Timeouts())
    try:
        result = await pull(Link(conn), laptop.repo, clock.now())
    finally:
        await conn.close()
    assert result.kept == 1 and result.skipped == []
    here = (await laptop.sessions())[s.id]
    assert here == paused and here.status is Status.PAUSED
    assert await laptop.outbox() == 1

    # The next sync pushes the pause, which loses to the finished server state (a
    # terminal status is final), and the pull then brings that state back.
    report = await laptop.sync()
    assert report.pushed == 1 and report.rejected == [] and report.pending == 0
    assert report.pulled >= 1
    assert (await laptop.sessions())[s.id].status is Status.EXPIRED
    await phone.sync()
    assert (await phone.sessions())[s.id].status is Status.EXPIRED
    assert await laptop.view() == await phone.view()
    for device in (laptop, phone):
        await check_consistent(device)
        assert (await device.service.stats()).total.expired == 1
    assert (await server_view(pg_admin, user)).sessions[s.id]["status"] == "expired"


async def test_a_pull_creates_no_outbox_rows_and_pulls_each_row_once(
    laptop: Device, phone: Device
) -> None:
    for n in range(3):
        await laptop.session(25, 25, task=f"laptop {n}")
    await laptop.sync()
    first = await phone.sync()
    assert first.pulled == 3 + 3  # three sessions, three awards
    assert first.pending == 0 and await phone.outbox() == 0
    again = await phone.sync()
    assert (again.pushed, again.pulled) == (0, 0)
    assert await phone.view() == await laptop.view()
