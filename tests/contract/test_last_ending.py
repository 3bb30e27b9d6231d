"""`last_ending_unseen` on both stores: a session that ended while nothing ran is told once
(then marked told, kept on this device only: nothing goes to the other devices), and an
ending the user brought about or was told of by a refusal is never told again."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from app.clock import FakeClock
from app.domain.errors import RefusedError
from app.domain.models import Mode, Status
from app.services import FocusService
from storage.sql import SqlRepository
from tests.contract.conftest import Count, RepoFactory


async def test_a_completion_settled_while_nothing_ran_is_told_once(
    service: FocusService, repo: SqlRepository, clock: FakeClock, changes: Count
) -> None:
    assert await service.last_ending_unseen() is None  # nothing ever ended
    s = await service.start(minutes=25, task="Write")
    clock.advance(minutes=30)  # ran out 5 min ago: within its grace window
    before = await changes(repo)
    told = await service.last_ending_unseen()
    assert told is not None and told.id == s.id
    assert (told.status, told.completed_at, told.xp_awarded) == (
        Status.COMPLETED,
        s.ends_at,
        25,
    )
    settled = await changes(repo)
    assert settled > before  # the completion itself goes to the other devices
    assert await service.last_ending_unseen() is None
    assert await changes(repo) == settled  # marking it told did not


async def test_an_expiry_is_told_once_and_a_later_one_again(
    service: FocusService, clock: FakeClock
) -> None:
    first = await service.start(minutes=10)
    clock.advance(minutes=25)  # past its end and a whole planned length more: expired
    told = await service.last_ending_unseen()
    assert told is not None and (told.id, told.status) == (first.id, Status.EXPIRED)
    assert await service.last_ending_unseen() is None
    second = await service.start(minutes=5, mode=Mode.SHORT_BREAK)
    paused = await service.pause()
    clock.advance(minutes=121)  # paused past the 120-minute limit
    told = await service.last_ending_unseen()
    assert told is not None and (told.id, told.status) == (second.id, Status.EXPIRED)
    assert paused.paused_at is not None
    assert told.expired_at == paused.paused_at + timedelta(minutes=120)
    assert await service.last_ending_unseen() is None


async def test_endings_the_user_brought_about_are_not_told_again(
    service: FocusService, clock: FakeClock
) -> None:
    await service.start(minutes=25)
    clock.advance(minutes=10)
    await service.complete()
    assert await service.last_ending_unseen() is None
    await service.start(minutes=25)
    clock.advance(minutes=1)
    await service.abandon("meeting")
    assert await service.last_ending_unseen() is None
    first = await service.start(minutes=25, task="first")
    clock.advance(minutes=1)
    second, replaced = await service.start_replacing(minutes=25, task="second", force=True)
    assert replaced is not None and replaced.id == first.id
    assert (replaced.status, replaced.abandon_reason) == (
        Status.ABANDONED,
        "replaced by a new session",
    )
    assert second.status is Status.ACTIVE
    assert await service.last_ending_unseen() is None


async def test_a_refusal_that_names_the_ending_tells_it(
    service: FocusService, clock: FakeClock
) -> None:
    await service.start(minutes=5)
    clock.advance(minutes=6)
    with pytest.raises(RefusedError, match=r"already completed at 09:05, \+5 xp, \+2 coins$"):
        await service.pause()
    assert await service.last_ending_unseen() is None
    await service.start(minutes=5)  # 09:06, runs out 09:11, grace until 09:16
    clock.advance(minutes=30)
    with pytest.raises(RefusedError, match=r"cannot extend: .* expired at 09:11, no reward$"):
        await service.extend(5)
    assert await service.last_ending_unseen() is None


async def test_told_is_kept_per_device_where_the_store_can(
    service: FocusService,
    repo: SqlRepository,
    open_store: RepoFactory,
    clock: FakeClock,
    backend: str,
    tmp_path: Path,
) -> None:
    service.state_dir = tmp_path / "state"
    await service.start(minutes=5)
    clock.advance(minutes=6)
    assert await service.last_ending_unseen() is not None
    state = tmp_path / "state" / f"device-{repo.identity.client_id}.json"
    if backend == "sqlite":
        assert await repo.device_value("seen_ending_at") is not None
        assert not state.exists()
    else:  # the client role may not write the server's meta: this machine's own file
        assert json.loads(state.read_text())["seen_ending_at"]
    # Another process of the same device (the app, the next command) agrees.
    again = FocusService(await open_store(repo.zone), clock, repo.zone)
    again.state_dir = tmp_path / "state"
    assert await again.last_ending_unseen() is None
    clock.advance(minutes=1)
    await again.start(minutes=1)
    clock.advance(minutes=1, seconds=30)
    assert (await service.last_ending_unseen()) is not None
    assert await again.last_ending_unseen() is None
