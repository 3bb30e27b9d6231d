"""`edit` on both stores: the open session's title and tags change in one transaction with
the change recorded for the other devices (an outbox row on a device, the user's change
counter on Postgres); the version rises so a sync takes it; the rules are start's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.clock import FakeClock
from app.domain.errors import RefusedError, UsageError
from app.domain.models import Status
from app.services import FocusService
from storage.sql import SqlRepository
from tests.contract.conftest import Count


async def test_edit_changes_title_and_tags_of_the_running_session(
    service: FocusService, repo: SqlRepository, clock: FakeClock, changes: Count
) -> None:
    s = await service.start(minutes=25, task="Draft", tags=["a"])
    before = await changes(repo)
    clock.advance(minutes=3)
    edited = await service.edit(task="  Write   report ", tags=["Deep", "#work,deep"])
    assert (edited.task_title, edited.tags) == ("Write report", ("deep", "work"))
    assert edited.version == s.version + 1
    assert edited.updated_at == clock.now()
    assert (edited.status, edited.ends_at, edited.started_at) == (
        Status.ACTIVE,
        s.ends_at,
        s.started_at,
    )
    stored = await repo.open_session()
    assert stored == edited
    assert await changes(repo) > before


async def test_edit_keeps_what_is_not_given_and_clears_what_is_empty(
    service: FocusService, repo: SqlRepository
) -> None:
    await service.start(minutes=25, task="Draft", tags=["a", "b"])
    only_title = await service.edit(task="Other")
    assert (only_title.task_title, only_title.tags) == ("Other", ("a", "b"))
    only_tags = await service.edit(tags=["c"])
    assert (only_tags.task_title, only_tags.tags) == ("Other", ("c",))
    cleared = await service.edit(task="", tags=[])
    assert (cleared.task_title, cleared.tags) == (None, ())
    assert cleared.version == only_tags.version + 1
    assert await repo.open_session() == cleared


async def test_edit_of_a_paused_session_keeps_it_paused(
    service: FocusService, repo: SqlRepository, clock: FakeClock
) -> None:
    await service.start(minutes=25)
    clock.advance(minutes=5)
    paused = await service.pause()
    clock.advance(minutes=5)
    edited = await service.edit(task="Later")
    assert edited.status is Status.PAUSED
    assert edited.paused_remaining == paused.paused_remaining == timedelta(minutes=20)
    assert edited.task_title == "Later"
    resumed = await service.resume()
    assert resumed.task_title == "Later"


async def test_an_edit_to_the_same_values_writes_nothing(
    service: FocusService, repo: SqlRepository, changes: Count
) -> None:
    s = await service.start(minutes=25, task="Same", tags=["x"])
    before = await changes(repo)
    again = await service.edit(task="Same", tags=["#X"])
    assert again == s
    assert await changes(repo) == before


@pytest.mark.parametrize(
    ("task", "tags", "needle"),
    [
        ("x" * 201, None, "longer than 200"),
        (None, ["two words"], "one word"),
        (None, [f"t{i}" for i in range(17)], "at most 16 tags"),
        ("nul\0", None, "NUL"),
        (None, None, "nothing to change"),
    ],
)
async def test_bad_input_is_refused_and_changes_nothing(
    service: FocusService,
    repo: SqlRepository,
    changes: Count,
    task: str | None,
    tags: list[str] | None,
    needle: str,
) -> None:
    s = await service.start(minutes=25, task="Keep", tags=["k"])
    before = await changes(repo)
    with pytest.raises(UsageError, match=needle):
        await service.edit(task=task, tags=tags)
    assert await repo.open_session() == s
    assert await changes(repo) == before


async def test_edit_with_no_open_session_is_refused(
    service: FocusService, clock: FakeClock
) -> None:
    with pytest.raises(RefusedError, match="cannot edit: no open session"):
        await service.edit(task="x")
    await service.start(minutes=1)
    clock.advance(minutes=1, seconds=5)  # ran out: settled (completed) before the edit
    with pytest.raises(RefusedError, match="cannot edit: the session already completed"):
        await service.edit(task="x")
