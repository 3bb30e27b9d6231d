"""Regressions for the sync bugs the reliability tests found (each test names its finder)."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.models import Mode, Status
from tests.sync.conftest import (  # the sync suite's fixtures, used here as they are there
    Device,
    check_consistent,
    devices,
    laptop,
    phone,
    user,
)

pytestmark = pytest.mark.postgres
__all__ = ["devices", "laptop", "phone", "user"]


@pytest.fixture
def pg_admin(reliability_db: str) -> str:
    return reliability_db


async def test_a_pull_closes_a_devices_old_session_before_it_opens_its_next(
    laptop: Device, phone: Device, user: dict[str, Any]
) -> None:
    """Found by test_sync_model: the laptop abandons its open session by starting the next
    (one batch holds both, under one stamp); the phone, which held the first one open,
    pulled them in id order, so the new open session could come first, be refused by the
    one-open-session-per-device rule, and be skipped for good (the cursor moved past it)."""
    old = await laptop.service.start(mode=Mode.FOCUS, minutes=25)
    await laptop.sync()
    await phone.sync()
    assert (await phone.sessions())[old.id].status is Status.ACTIVE
    laptop.clock.advance(minutes=3)
    # Start anew (--force) until the new session's id sorts before the one it replaces:
    # the order in which the pull sees them.
    while True:
        new = await laptop.service.start(mode=Mode.FOCUS, minutes=25, force=True)
        if new.id.bytes < old.id.bytes:
            break
        old = new
    await laptop.sync()
    report = await phone.sync()
    assert report.skipped == [], report.skipped
    held = await phone.sessions()
    assert held[new.id].status is Status.ACTIVE and held[old.id].status is Status.ABANDONED
    assert held == await laptop.sessions()
    await check_consistent(phone)
