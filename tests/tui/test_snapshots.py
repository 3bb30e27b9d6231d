"""Snapshot tests of the timer, history and stats screens at 60x20, 80x24 and 120x40.

Every picture is deterministic: a fixed fake clock, the UTC zone, a history written by
`populate`, and nothing on screen that comes from the real date or a random id.
Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look (the
layout tests in test_layout_screens.py check the same sizes by their regions and text).
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

SIZES = [(60, 20), (80, 24), (120, 40)]
IDS = ["60x20", "80x24", "120x40"]
by_size = pytest.mark.parametrize("size", SIZES, ids=IDS)
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


@by_size
def test_timer_idle(
    snap_compare: SnapCompare, app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    """Ready to start a focus session; today's totals, level and streak below."""
    assert snap_compare(app_factory(), terminal_size=size, run_before=pressing())


@by_size
def test_timer_running(
    snap_compare: SnapCompare, app_factory: AppFactory, clock: FakeClock, size: tuple[int, int]
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

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@by_size
def test_history(
    snap_compare: SnapCompare, app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    """The newest sessions of the populated history, first row highlighted."""
    assert snap_compare(app_factory(), terminal_size=size, run_before=pressing("h"))


@by_size
def test_stats(
    snap_compare: SnapCompare, app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    """Cards, level line and the 30-day chart of the populated history."""
    assert snap_compare(app_factory(), terminal_size=size, run_before=pressing("g"))


TO_ABANDONED = ("h", *["down"] * 23)
"""The history's 24th row: a focus session abandoned because a meeting ran over."""


def test_history_abandoned_row(
    snap_compare: SnapCompare, app_factory: AppFactory, filled: None
) -> None:
    """History scrolled to an abandoned session: its reason in the row."""
    assert snap_compare(app_factory(), terminal_size=(80, 24), run_before=pressing(*TO_ABANDONED))


@pytest.mark.parametrize("size", [(60, 20), (80, 24)], ids=["60x20", "80x24"])
def test_session_details(
    snap_compare: SnapCompare, app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    """Enter on that row: every instant, pauses, slept time, the reason and the reward."""
    run_before = pressing(*TO_ABANDONED, "enter")
    assert snap_compare(app_factory(), terminal_size=size, run_before=run_before)
