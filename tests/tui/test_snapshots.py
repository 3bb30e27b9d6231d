"""Snapshot tests of the timer, history and stats screens at 80x24.

Every picture is deterministic: a fixed fake clock, the UTC zone, a history written by
`populate`, and nothing on screen that comes from the real date or a random id.
Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from app.clock import FakeClock
from app.tui.app import FocusApp
from tests.tui.conftest import AppFactory
from tests.tui.helpers import prefill, run_clock, settle

SIZE = (80, 24)
SnapCompare = Callable[..., bool]


@pytest.fixture
def filled(db_path: Path, clock: FakeClock) -> None:
    """45 days of history, ending on Wednesday 15 April 2026 at 10:39 UTC."""
    asyncio.run(prefill(db_path, clock, days=45))


def pressing(*keys: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await settle(pilot)

    return run_before


def test_timer_idle(snap_compare: SnapCompare, app_factory: AppFactory, filled: None) -> None:
    """Ready to start a focus session; today's totals, level and streak below."""
    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=pressing())


def test_timer_running(
    snap_compare: SnapCompare, app_factory: AppFactory, clock: FakeClock
) -> None:
    """A focus session with a task, 1m 01s in: 23:59 left, ends at 09:25."""
    app = app_factory()

    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot)
        assert isinstance(pilot.app, FocusApp)
        pilot.app.timer_screen.query_one("#task", Input).value = "Write the design doc"
        pilot.app.timer_screen.query_one("#tags", Input).value = "#deep writing"
        await pilot.press("space")
        await settle(pilot)
        await run_clock(pilot, clock, 61)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_history(snap_compare: SnapCompare, app_factory: AppFactory, filled: None) -> None:
    """The newest sessions of the populated history, first row highlighted."""
    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=pressing("h"))


def test_stats(snap_compare: SnapCompare, app_factory: AppFactory, filled: None) -> None:
    """Cards, level line and the 30-day chart of the populated history."""
    assert snap_compare(app_factory(), terminal_size=SIZE, run_before=pressing("g"))
