"""Pilot tests: titles, tags and reasons holding terminal escapes or markup are shown as text.

A title may carry `ESC [2J` (clear the screen), an OSC 52 (write the clipboard) or `[bold]`;
the app shows each as the characters it is made of and never hands them to the terminal or
to the markup parser.
"""

from __future__ import annotations

import re
from pathlib import Path

from textual.content import Content
from textual.widgets import Input, Static

from app.bootstrap import bootstrap
from app.clock import FakeClock
from app.config import Settings
from app.domain.models import Mode
from app.textsafe import visible
from app.tui.screens.history import HistoryScreen
from app.tui.screens.stats import StatsScreen
from app.tui.widgets.history_table import HistoryTable
from tests.tui.conftest import AppFactory
from tests.tui.helpers import cell_text, rich_text, settle

TITLE = "\x1b[2J\x1b]52;c;ZXZpbA==\x07[bold]x"
SHOWN = "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07[bold]x"
TERMINAL_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def write_hostile_history(db_path: Path, clock: FakeClock) -> None:
    """An abandoned and a completed session with hostile text, and one left open."""
    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    service = container.service
    try:
        await service.start(Mode.FOCUS, task=TITLE, tags=["[bold]t", "\x1b[31mred"])
        clock.advance(minutes=10)
        await service.abandon(TITLE)
        await service.start(Mode.FOCUS, task="[red]plain[/red]", tags=["[b]"])
        clock.advance(minutes=25)
        await service.settle()
        await service.start(Mode.FOCUS, task=TITLE)
        clock.advance(minutes=1)
    finally:
        await container.close()


async def test_hostile_titles_show_escaped_on_timer_history_and_stats(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    assert visible(TITLE) == SHOWN
    await write_hostile_history(db_path, clock)
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        timer = app.timer_screen
        assert timer.session is not None and timer.session.task_title == TITLE
        assert timer.query_one("#task", Input).value == SHOWN
        subtitle = timer.countdown.border_subtitle
        assert subtitle is not None and Content.from_markup(subtitle).plain == SHOWN

        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one(HistoryTable)
        rows = [[cell_text(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        # The Task cell: title, abandon reason and tags, each shown as its characters.
        assert [row[1] for row in rows] == [
            SHOWN,
            "[red]plain[/red]  #[b]",
            f"{SHOWN}  — {SHOWN}  #[bold]t #{visible(chr(27) + '[31mred')}",
        ]
        for row in rows:
            for cell in row:
                assert not TERMINAL_CONTROLS.search(cell), row

        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, StatsScreen)
        tops = {
            key: rich_text(app.screen.query_one(f"#top-{key}", Static).content, width=200)
            for key in ("tasks", "tags", "reasons")
        }
        assert "[red]plain[/red]" in tops["tasks"]
        assert "#[b]" in tops["tags"]
        assert SHOWN in tops["reasons"]
        for text in tops.values():
            assert not TERMINAL_CONTROLS.search(text.replace("\n", "")), text
