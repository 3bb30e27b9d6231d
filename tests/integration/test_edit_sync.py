"""An edited session syncs: the device pushes the new version, the server's checks accept it
and another device of the user pulls the new title and tags (before and after the session's
first push)."""

from __future__ import annotations

import pytest

from tests.sync import conftest as sync_fixtures
from tests.sync.conftest import Device

# The sync suite's fixtures: two devices of one user on the suite's Postgres.
sync_database = sync_fixtures.sync_database
pg_admin = sync_fixtures.pg_admin
devices = sync_fixtures.devices
user = sync_fixtures.user
laptop = sync_fixtures.laptop
phone = sync_fixtures.phone

pytestmark = pytest.mark.postgres


async def test_an_edit_made_after_the_first_push_reaches_the_other_device(
    laptop: Device, phone: Device
) -> None:
    s = await laptop.service.start(minutes=25, task="Draft", tags=["a"])
    report = await laptop.sync()
    assert report.rejected == []
    laptop.clock.advance(minutes=2)
    edited = await laptop.service.edit(task="Write report", tags=["deep", "work"])
    assert await laptop.outbox() == 1
    report = await laptop.sync()
    assert (report.pushed, report.rejected, report.pending) == (1, [], 0)
    await phone.sync()
    seen = (await phone.sessions())[s.id]
    assert (seen.task_title, seen.tags, seen.version) == (
        "Write report",
        ("deep", "work"),
        edited.version,
    )


async def test_an_edit_before_any_push_and_the_completion_after_it_arrive_together(
    laptop: Device, phone: Device
) -> None:
    s = await laptop.service.start(minutes=25, task="Draft")
    await laptop.service.edit(task="Final", tags=["x"])
    laptop.clock.advance(minutes=25)
    done = (await laptop.service.complete()).session
    report = await laptop.sync()
    assert report.rejected == []
    await phone.sync()
    seen = (await phone.sessions())[s.id]
    assert (seen.task_title, seen.tags, seen.status, seen.xp_awarded) == (
        "Final",
        ("x",),
        done.status,
        done.xp_awarded,
    )
    by_task = dict((await phone.service.stats()).by_task)
    assert by_task["Final"].completed == 1 and "Draft" not in by_task
