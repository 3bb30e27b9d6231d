"""Round trips: a batch costs a constant number of round trips, whatever its size; more
changes than one batch holds cost only per batch."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import UserFactory
from tests.sync.conftest import Device, Devices, server_view

pytestmark = pytest.mark.postgres


async def device_with_changes(devices: Devices, pg_user: UserFactory, n: int) -> Device:
    """A new user's new device holding exactly `n` (10 or a multiple of 100) changes to
    push, in blocks of every kind: rewarded focus sessions (start, award, completion) and two
    abandoned ones (start, abandon). A block never splits a session, so a batch of a whole
    number of blocks holds whole sessions only (see test_push.py for a split one)."""
    device = await devices.open(f"d{n}_{uuid.uuid4().hex[:8]}", await pg_user())
    blocks = [10] if n == 10 else [100] * (n // 100)
    assert sum(blocks) == n
    for size in blocks:
        for _ in range((size - 4) // 3):
            await device.session(5, 3, gap=1)
        for _ in range(2):
            await device.session(5, 1, how="abandon", gap=1)
    assert await device.outbox() == n
    return device


async def round_trips(devices: Devices, pg_user: UserFactory, n: int, batch_size: int) -> int:
    device = await device_with_changes(devices, pg_user, n)
    report = await device.sync(batch_size=batch_size)
    assert (report.pushed, report.pending, report.rejected) == (n, 0, [])
    assert report.batches == -(-n // batch_size)
    await devices.close(device)
    return report.round_trips


async def test_round_trips_per_batch_do_not_grow_with_its_size(
    devices: Devices, pg_user: UserFactory
) -> None:
    trips = {n: await round_trips(devices, pg_user, n, 1000) for n in (10, 100, 500)}
    print(f"round trips of one sync, one batch: {trips}")  # noqa: T201
    assert trips[10] == trips[100] == trips[500], trips
    # The checks, one batch, one pull (sessions, awards, libraries, tracks, deletions).
    assert trips[10] <= 24, trips


async def test_round_trips_grow_only_with_the_number_of_batches(
    devices: Devices, pg_user: UserFactory
) -> None:
    trips = {n: await round_trips(devices, pg_user, n, 100) for n in (100, 300, 500)}
    print(f"round trips with batches of 100: {trips}")  # noqa: T201
    per_two = trips[300] - trips[100]
    assert trips[500] - trips[300] == per_two, trips  # linear in the batches
    assert 0 < per_two // 2 <= 10 and per_two % 2 == 0, trips
    assert trips[100] == await round_trips(devices, pg_user, 100, 1000), trips


async def test_a_second_device_pulls_a_large_history_in_constant_round_trips(
    devices: Devices, pg_user: UserFactory, pg_admin: str
) -> None:
    small = await device_with_changes(devices, pg_user, 10)
    await small.sync()
    big = await device_with_changes(devices, pg_user, 600)
    await big.sync()
    trips = []
    for source in (small, big):
        other = await devices.open(f"{source.name}_other", source.user)
        report = await other.sync()
        held = (await source.sessions()).values()
        assert report.pulled == len(held) + sum(s.xp_awarded > 0 for s in held), report
        assert await other.view() == await source.view()
        trips.append(report.round_trips)
        assert len((await server_view(pg_admin, source.user)).sessions) == len(
            await other.sessions()
        )
    assert trips[0] == trips[1], trips
