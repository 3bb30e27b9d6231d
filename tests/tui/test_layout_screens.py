"""Every screen fits from 60x20 to 200x60: nothing cut, nothing wrapped, the spare room used.

Each test reads what the user would see (the screen's text as drawn) and the widgets'
regions, so a layout that clips a column, wraps a chart row or pushes a card below the
fold fails here before anyone opens a terminal.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from app.clock import FakeClock
from app.tui.app import FocusApp
from app.tui.screens.history import HistoryScreen
from app.tui.screens.stats import StatsScreen
from app.tui.widgets.charts import DayBars, YearHeatmap
from app.tui.widgets.history_table import COLUMNS, MIN_TASK, HistoryTable
from app.tui.widgets.summary import LevelLine
from tests.tui.conftest import AppFactory
from tests.tui.helpers import prefill, settle

SIZES = [(60, 20), (80, 24), (120, 40), (200, 60)]
IDS = ["60x20", "80x24", "120x40", "200x60"]


@pytest.fixture
async def filled(db_path: Path, clock: FakeClock) -> None:
    await prefill(db_path, clock, days=45)


def screen_text(app: FocusApp) -> list[str]:
    """The screen as drawn, one string per terminal row."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, color_system=None
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


def within(widget: Widget, size: tuple[int, int]) -> bool:
    region = widget.region
    return region.x >= 0 and region.y >= 0 and region.right <= size[0] and region.bottom <= size[1]


def footer_keys(app: FocusApp) -> list[FooterKey]:
    footer = app.screen.query_one(Footer)
    return [key for key in footer.query(FooterKey) if key.display]


def assert_footer_fits(app: FocusApp, size: tuple[int, int], must_show: set[str]) -> None:
    keys = footer_keys(app)
    assert keys
    assert all(within(key, size) and key.region.width > 0 for key in keys), [
        (key.key, key.region) for key in keys
    ]
    assert must_show <= {key.key for key in keys}
    bottom = "\n".join(screen_text(app)[-2:])
    for key in keys:
        if key.description:
            assert f"{key.key_display} {key.description}" in bottom, (key.key, bottom)


async def open_screen(pilot: Pilot[None], key: str | None) -> None:
    await settle(pilot)
    if key:
        await pilot.press(key)
        await settle(pilot)
    for _ in range(3):  # the footer recomposes with the bindings, then is laid out
        await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_the_timer_fits_without_scrolling(
    app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, None)
        screen = app.screen
        parts = [screen.query_one(s) for s in ("#modes", "#countdown", "#task-row", "#summary")]
        for part in parts:
            assert within(part, size), (part.id, part.region)
        assert screen.max_scroll_y == 0, "the cards are above the fold"
        assert_footer_fits(app, size, {"space", "h", "g", "q"})
        text = "\n".join(screen_text(app))
        for words in ("Ready", "Today", "Level 5", "Streak", "1h 15m focused", "400 coins"):
            assert words in text, words
        for card in screen.query(".card"):
            assert card.region.bottom < size[1] - 1, "the cards end above the footer"


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_a_running_timer_keeps_every_key_on_screen(
    app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, "space")
        screen = app.screen
        assert screen.has_class("-active")
        assert screen.max_scroll_y == 0
        assert_footer_fits(app, size, {"space", "c", "x", "e", "h", "g", "q"})
        assert within(screen.query_one("#summary"), size)


async def test_the_timer_grows_and_centres_on_a_big_terminal(
    app_factory: AppFactory, filled: None
) -> None:
    regions = {}
    for size in ((80, 24), (120, 40)):
        app = app_factory()
        async with app.run_test(size=size) as pilot:
            await open_screen(pilot, None)
            screen = app.screen
            regions[size] = (
                screen.query_one("#countdown").region,
                screen.query_one("#modes").region,
                screen.query_one("#summary").region,
            )
    small, big = regions[(80, 24)][0], regions[(120, 40)][0]
    assert big.width > small.width + 15
    assert big.height > small.height + 3
    assert abs(big.x - (120 - big.right)) <= 1, "centred across"
    top, bottom = regions[(120, 40)][1].y - 1, 39 - regions[(120, 40)][2].bottom
    assert top > 2 and abs(top - bottom) <= 2, "centred down the screen, not stuck at the top"


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_history_shows_every_column_and_gives_the_task_the_rest(
    app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, "h")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one(HistoryTable)
        room = table.scrollable_content_region.width
        widths = [column.get_render_width(table) for column in table.columns.values()]
        assert sum(widths) <= room, "no column is cut off or scrolled out of view"
        assert table.max_scroll_x == 0
        fixed = sum(w for _, _, w in COLUMNS) + 2 * table.cell_padding * len(COLUMNS)
        task = table.columns[next(iter(k for k in table.columns if k.value == "task"))]
        assert task.width == max(MIN_TASK, room - fixed)
        assert room - sum(widths) <= 1, "the task column takes the spare width"
        assert within(table, size)

        header = next(line for line in screen_text(app) if "When" in line)
        for title in ("When", "Task", "Status", "Min", "XP", "Coins"):
            assert title in header, (title, header)
        rows = screen_text(app)
        assert any("completed" in line and line.rstrip().endswith("5") for line in rows)
        count = screen.query_one("#count")
        assert within(count, size)
        assert "sessions" in "\n".join(rows), "the count is not cut"
        assert_footer_fits(app, size, {"escape", "r", "enter"})


async def test_history_task_column_follows_a_resize(app_factory: AppFactory, filled: None) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, "h")
        table = app.screen.query_one(HistoryTable)
        before = table.task_width()
        await pilot.resize_terminal(140, 30)
        await settle(pilot)
        await pilot.pause()
        after = table.task_width()
        assert after == before + 60
        task = next(c for c in table.columns.values() if c.label.plain == "Task")
        assert task.width == after
        assert any("Write the design doc  #deep #writing" in line for line in screen_text(app))


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_stats_nothing_wraps_or_spills(
    app_factory: AppFactory, filled: None, size: tuple[int, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, "g")
        screen = app.screen
        assert isinstance(screen, StatsScreen)
        body = screen.query_one("#stats-body")
        assert body.max_scroll_x == 0

        for card in screen.query("#stat-cards .card"):
            assert isinstance(card, Static)
            lines = str(card.content).split("\n")
            content = card.content_region
            assert len(lines) <= content.height, (card.id, lines)
            assert max(len(line) for line in lines) <= content.width, (card.id, lines)
            assert card.region.right <= size[0]
        text = "\n".join(screen_text(app))
        assert "89% completed" in text and "100% completed" in text, "inside the cards"

        line = screen.query_one(LevelLine)
        assert len(line.render().plain) <= line.size.width
        assert line.render().plain.endswith("400 coins"), "the level line is whole"

        bars = screen.query_one(DayBars)
        drawn = bars.render().plain.splitlines()
        assert len(drawn) == bars.size.height, "one text row per chart row: nothing wrapped"
        assert max(len(row) for row in drawn) <= bars.size.width
        assert all("│" in row for row in drawn[:-2]), "the axis on every bar row"
        count, step, _ = bars.layout_for(bars.size.width)
        assert count == 30, "the last 30 days fit at every size"
        assert len(drawn[-2]) - drawn[-2].index("└") - 1 == count * step

        heatmap = screen.query_one(YearHeatmap)
        assert max(len(row) for row in heatmap.render().plain.splitlines()) <= heatmap.size.width
        for top in screen.query(".top"):
            assert top.region.right <= size[0]
        assert_footer_fits(app, size, {"escape", "r"})


async def test_the_open_session_line_wraps_rather_than_being_cut(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(60, 20)) as pilot:
        await open_screen(pilot, "space")
        await open_screen(pilot, "g")
        line = app.screen.query_one("#open-line")
        assert line.display and line.region.height == 2
        assert within(line, (60, 20))
        text = "\n".join(screen_text(app))
        assert "Now: focus active" in text and "(counted when it ends)" in text


@pytest.mark.parametrize("size", SIZES, ids=IDS)
async def test_the_tracks_screen_shows_both_tables_and_every_key(
    app_factory: AppFactory, size: tuple[int, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await open_screen(pilot, "l")
        for ident in ("libraries", "tracks", "track-count"):
            widget = app.screen.query_one(f"#{ident}")
            assert within(widget, size) and widget.region.height > 0, ident
        keys = footer_keys(app)
        assert {"escape", "a", "u", "d", "q"} <= {key.key for key in keys}
        assert all(within(key, size) and key.region.width > 0 for key in keys)
        bottom = "\n".join(screen_text(app)[-3:])
        for key in keys:
            if key.description:
                assert f"{key.key_display} {key.description}" in bottom, (key.key, bottom)
        assert "No music yet: a adds an audio file" in "\n".join(screen_text(app))
