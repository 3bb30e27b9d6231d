"""Two users on one server: each syncs only their own rows, and never sees the other's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.sync.conftest import Device, as_uuid, check_consistent, server_view

pytestmark = pytest.mark.postgres


async def test_two_users_data_never_mix(
    laptop: Device,
    phone: Device,
    stranger: Device,
    pg_admin: str,
    user: dict[str, Any],
    other_user: dict[str, Any],
) -> None:
    ours = [await laptop.session(25, 25, task="ours", tags=("shared-tag",))]
    ours.append(await phone.session(25, 10, how="abandon", task="ours"))
    theirs = [await stranger.session(25, 25, task="theirs", tags=("shared-tag",))]
    theirs.append(await stranger.session(50, 50, task="ours"))  # the same task title
    for _ in range(2):
        for device in (laptop, stranger, phone):
            report = await device.sync()
            assert report.rejected == [] and report.skipped == []

    our_ids, their_ids = {s.id for s in ours}, {s.id for s in theirs}
    for device in (laptop, phone):
        assert set(await device.sessions()) == our_ids, device.name
    assert set(await stranger.sessions()) == their_ids
    assert await laptop.view() == await phone.view()
    stats = await stranger.service.stats()
    assert stats.total.completed == 2 and stats.total.abandoned == 0
    assert dict(stats.by_tag)["shared-tag"].completed == 1
    assert dict(stats.by_task)["ours"].completed == 1
    for device in (laptop, phone, stranger):
        await check_consistent(device)

    mine, other = await server_view(pg_admin, user), await server_view(pg_admin, other_user)
    assert set(mine.sessions) == our_ids and set(other.sessions) == their_ids
    for view, owner in ((mine, user), (other, other_user)):
        assert {as_uuid(r["user_id"]) for r in view.sessions.values()} == {
            uuid.UUID(owner["user_id"])
        }
        assert all(
            as_uuid(r["user_id"]) == uuid.UUID(owner["user_id"]) for r in view.ledger.values()
        )
    assert set(mine.clients) == {laptop.repo.identity.client_id, phone.repo.identity.client_id}
    assert set(other.clients) == {stranger.repo.identity.client_id}
    assert stranger.repo.identity.user_id == uuid.UUID(other_user["user_id"])
