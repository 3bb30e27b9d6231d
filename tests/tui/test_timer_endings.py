"""Pilot tests of how the app tells what became of the last session: once, in the CLI's
words, whether it ended while nothing ran, while a `focus` command only read it, or while
the app itself was watching."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from app.bootstrap import Container, bootstrap
from app.clock import FakeClock
from app.config import Settings
from app.domain.models import Mode, Status
from tests.tui.conftest import AppFactory
from tests.tui.helpers import run_clock, service_of, settle, start_with_space, toasts


@asynccontextmanager
async def elsewhere(db_path: Path, clock: FakeClock) -> AsyncIterator[Container]:
    """Another process on the same file (a `focus` command, say)."""
    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    try:
        yield container
    finally:
        await container.close()


def endings(app: object, needle: str) -> list[str]:
    return [m for _, m in toasts(app) if needle in m]  # type: ignore[arg-type]


async def test_a_session_that_expired_while_nothing_ran_is_told_once(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    async with elsewhere(db_path, clock) as other:
        started = await other.service.start(Mode.FOCUS, task="Write report")
    assert started.ends_at is not None
    clock.advance(minutes=90)  # far past its end and the grace after it

    first = app_factory()
    async with first.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        said = endings(first, "expired")
        assert said == [
            'Focus session expired: left unattended past 09:50, no reward: "Write report". '
            "It ended while Focus was closed."
        ], toasts(first)
        assert [t for t, m in toasts(first) if m in said] == ["Focus expired"]
        done = (await service_of(first).history(limit=1)).sessions[0]
        assert done.status is Status.EXPIRED and done.xp_awarded == 0
        # Told: a `focus` command run now does not tell it again.
        async with elsewhere(db_path, clock) as other:
            assert await other.service.last_ending_unseen() is None

    again = app_factory()
    async with again.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not endings(again, "expired"), toasts(again)


async def test_a_session_a_command_settled_without_telling_is_told_by_the_app(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    async with elsewhere(db_path, clock) as other:
        await other.service.start(Mode.FOCUS, task="Inbox")
        clock.advance(minutes=26)
        # `focus history`, say: it settles the session (completed) but tells nothing.
        assert await other.service.status() is None
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        said = endings(app, "completed at")
        assert len(said) == 1, toasts(app)
        assert said[0].startswith('Focus session completed at 09:25, +25 xp, +5 coins: "Inbox".')


async def test_a_session_told_by_a_command_first_is_not_told_again(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    async with elsewhere(db_path, clock) as other:
        await other.service.start(Mode.FOCUS)
        clock.advance(minutes=26)
        told = await other.service.last_ending_unseen()  # `focus status` told it
        assert told is not None and told.status is Status.COMPLETED
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not endings(app, "completed at"), toasts(app)
        assert not [t for t, _ in toasts(app) if t == "Focus complete"]


async def test_an_ending_the_app_watched_is_told_there_and_not_by_the_next_command(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    app = app_factory(timer={"focus_minutes": 1})
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await run_clock(pilot, clock, 61, step=2)
        said = endings(app, "completed at")
        assert len(said) == 1 and "+5 xp, +2 coins" in said[0], toasts(app)
        assert "closed" not in said[0]
        async with elsewhere(db_path, clock) as other:
            assert await other.service.last_ending_unseen() is None
