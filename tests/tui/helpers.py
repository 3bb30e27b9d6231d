"""Driving the Textual app in tests: build it over a real SQLite file, wait, move the clock."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from textual.pilot import Pilot
from textual.worker import WorkerCancelled

from app.bootstrap import Container, bootstrap
from app.clock import FakeClock
from app.config import Settings
from app.domain.models import Mode, Session, Status
from app.hooks import HookResult
from app.notify import Notifier
from app.services import FocusService
from app.tui.app import FocusApp
from app.tui.screens.timer import TimerScreen


def make_app(
    db_path: Path,
    clock: FakeClock,
    settings: Settings | None = None,
    bin_dir: Path | None = None,
) -> FocusApp:
    """The app as `focus` builds it: the store is opened inside the app's own loop."""
    settings = settings or Settings()

    async def opener(on_hook_failure: Callable[[HookResult], None]) -> Container:
        return await bootstrap(
            db=str(db_path), clock=clock, settings=settings, on_hook_failure=on_hook_failure
        )

    # An empty folder by default: the test machine's own notifier is never run.
    notifier = Notifier(search_path=str(bin_dir or db_path.parent / "no-bin"))
    return FocusApp(settings, clock, opener=opener, notifier=notifier)


def timer_of(app: FocusApp) -> TimerScreen:
    return app.timer_screen


async def settle(pilot: Pilot[None]) -> None:
    """Wait until the store is open and no worker is running."""
    app = pilot.app
    assert isinstance(app, FocusApp)
    for _ in range(500):
        # An exclusive worker superseded by a newer one (a summary refresh, say) ends
        # cancelled: that is expected, the newer one is waited for on the next round.
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if app.ready and not len(app.workers):
            break


async def start_with_space(pilot: Pilot[None]) -> None:
    """Let the app open the database, press space, and let the start land."""
    await settle(pilot)
    await pilot.press("space")
    await settle(pilot)


def service_of(app: FocusApp) -> FocusService:
    assert app.service is not None
    return app.service


async def run_clock(
    pilot: Pilot[None], clock: FakeClock, seconds: float, step: float = 1.0
) -> None:
    """Let `seconds` pass in ticks of `step` (a step under 5 s is never taken for a suspend)."""
    app = pilot.app
    assert isinstance(app, FocusApp)
    left = seconds
    while left > 0:
        clock.advance(min(step, left))
        left -= step
        app.timer_screen.tick()
        if len(app.workers):
            await settle(pilot)
    await settle(pilot)


def shown(app: FocusApp) -> str:
    """The time the big display shows."""
    from textual.widgets import Digits

    return app.timer_screen.query_one("#clock", Digits).value


def toasts(app: FocusApp) -> list[tuple[str, str]]:
    """(title, message) of every notification the app raised so far."""
    return [(n.title, n.message) for n in app._notifications]


async def populate(service: FocusService, clock: FakeClock, days: int = 45) -> None:
    """A plausible, deterministic history: focus sessions, breaks, a few abandoned."""
    tasks = ["Write the design doc", "Review pull requests", "Inbox zero", "Refactor storage"]
    tags = [["deep", "writing"], ["review"], ["admin"], ["deep", "code"]]
    start = clock.now()
    for day in range(days):
        clock.set(start + timedelta(days=day))
        sessions = (day * 7) % 5
        for n in range(sessions):
            k = (day + n) % len(tasks)
            await service.start(Mode.FOCUS, task=tasks[k], tags=tags[k])
            if (day + n) % 9 == 4:
                clock.advance(minutes=7)
                await service.abandon("meeting ran over" if n % 2 else "phone call")
            else:
                clock.advance(minutes=25)
                await service.settle()
            await service.start(Mode.SHORT_BREAK)
            clock.advance(minutes=5)
            await service.settle()
            clock.advance(minutes=3)


def fake_tool(bin_dir: Path, name: str, log: Path) -> Path:
    """A stand-in for a system tool that records its arguments, one per line."""
    script = bin_dir / name
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{log}"\n')
    script.chmod(0o755)
    return script


async def prefill(db_path: Path, clock: FakeClock, days: int = 45) -> None:
    """Write `populate`'s history into the database file before any app opens it.

    Done outside the app so no timer tick can interleave with the writes: the app then
    opens a finished history, already seen, with the clock left just after the last session.
    """
    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    try:
        await populate(container.service, clock, days)
        # The user has seen how the last one ended (else the app says it once on opening).
        await container.service.last_ending_unseen()
    finally:
        await container.close()


async def stored_sessions(
    service: FocusService,
    statuses: tuple[Status, ...] = (),
    modes: tuple[Mode, ...] = (),
) -> list[Session]:
    """Every stored session newest first, filtered here rather than by the store's query."""
    found = [
        s
        async for s in service.iter_all()
        if (not statuses or s.status in statuses) and (not modes or s.mode in modes)
    ]
    return sorted(found, key=lambda s: s.started_at, reverse=True)


def cell_text(cell: object) -> str:
    """A DataTable cell as the user reads it (plain text, styles dropped)."""
    from rich.text import Text

    return cell.plain if isinstance(cell, Text) else str(cell)


def rich_text(renderable: object, width: int = 120) -> str:
    """What a Rich renderable (a table, say) prints at `width` columns."""
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.export_text()


async def finish_elsewhere(db_path: Path, clock: FakeClock, task: str) -> None:
    """A focus session started and completed by another process (a `focus` command, say)."""
    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    try:
        await container.service.start(Mode.FOCUS, task=task, tags=[])
        clock.advance(minutes=20)
        await container.service.complete()
    finally:
        await container.close()
