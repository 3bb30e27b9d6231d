"""Pilot tests of the history screen: its rows, keyset pages as you scroll, filters, keys."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Label, Select, Static

from app.clock import FakeClock
from app.domain.models import Mode, Session, Status
from app.services import FocusService
from app.tui.app import FocusApp
from app.tui.screens.history import PAGE_SIZE, HistoryScreen
from app.tui.screens.session_details import SessionDetails
from app.tui.screens.stats import StatsScreen
from app.tui.screens.timer import TimerScreen
from app.tui.widgets.history_table import HistoryTable
from tests.conftest import START
from tests.tui.conftest import AppFactory
from tests.tui.helpers import (
    cell_text,
    finish_elsewhere,
    prefill,
    rich_text,
    run_clock,
    service_of,
    settle,
    start_with_space,
    stored_sessions,
    toasts,
)

BREAK = {Mode.SHORT_BREAK: "Short break", Mode.LONG_BREAK: "Long break"}


@pytest.fixture
async def filled(db_path: Path, clock: FakeClock) -> None:
    """45 days of history: 180 sessions, more than three pages."""
    await prefill(db_path, clock, days=45)


def expected_task(s: Session) -> str:
    """The Task cell: the title (a break or an untitled focus says what it was), the tags,
    and why an abandoned session was given up."""
    what = (s.task_title or "Focus") if s.mode is Mode.FOCUS else BREAK[s.mode]
    if s.mode is not Mode.FOCUS and s.task_title:
        what += f" · {s.task_title}"
    if s.status is Status.ABANDONED and s.abandon_reason:
        what += f"  — {s.abandon_reason}"
    if s.tags:
        what += "  " + " ".join(f"#{t}" for t in s.tags)
    return what


def expected_row(s: Session, zone: tzinfo, this_year: int = START.year) -> list[str]:
    started = s.started_at.astimezone(zone)
    return [
        started.strftime("%d %b %H:%M" if started.year == this_year else "%d %b %Y"),
        expected_task(s),
        s.status.value,
        str(int(s.focused.total_seconds()) // 60),
        str(s.xp_awarded),
        str(s.coins_awarded),
    ]


def table_of(app: FocusApp) -> HistoryTable:
    assert isinstance(app.screen, HistoryScreen)
    return app.screen.query_one(HistoryTable)


def rows_of(table: HistoryTable) -> list[list[str]]:
    return [[cell_text(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


def ids_of(table: HistoryTable) -> list[str]:
    return [str(row.key.value) for row in table.ordered_rows]


def count_text(app: FocusApp) -> str:
    return str(app.screen.query_one("#count", Label).render())


async def open_history(pilot: Pilot[None]) -> HistoryTable:
    await settle(pilot)
    await pilot.press("h")
    await settle(pilot)
    assert isinstance(pilot.app, FocusApp)
    return table_of(pilot.app)


async def load_everything(pilot: Pilot[None]) -> list[int]:
    """Press `end` until the last page is in; the row counts seen after each press."""
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    counts = []
    for _ in range(20):
        if screen.exhausted:
            break
        await pilot.press("end")
        await settle(pilot)
        counts.append(screen.query_one(HistoryTable).row_count)
    assert screen.exhausted, "the last page never arrived"
    return counts


async def test_h_opens_the_sessions_newest_first(
    app_factory: AppFactory, clock: FakeClock, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space")  # the session running now is the newest row
        await settle(pilot)
        await run_clock(pilot, clock, 90, step=3)
        table = await open_history(pilot)

        service = service_of(app)
        stored = await stored_sessions(service)
        assert [c.label.plain for c in table.columns.values()] == [
            "When", "Task", "Status", "Min", "XP", "Coins"
        ]  # fmt: skip
        assert ids_of(table) == [str(s.id) for s in stored[:PAGE_SIZE]]
        assert rows_of(table) == [expected_row(s, service.zone) for s in stored[:PAGE_SIZE]]

        first = rows_of(table)[0]
        assert first[2] == "active"
        assert first[1] == "Focus", "an untitled focus session says what it was"
        shown = {row[2] for row in rows_of(table)} | {row[1] for row in rows_of(table)}
        assert {"completed", "abandoned", "Short break"} <= shown, "the page covers every kind"
        reasons = [row[1] for row in rows_of(table) if row[2] == "abandoned"]
        assert reasons
        assert all(("— phone call  #" in r or "— meeting ran over  #" in r) for r in reasons)
        assert not toasts(app)


async def test_sessions_from_an_earlier_year_show_the_year(
    app_factory: AppFactory, clock: FakeClock, filled: None
) -> None:
    clock.advance(days=400)
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        table = await open_history(pilot)
        service = service_of(app)
        stored = await stored_sessions(service)
        this_year = service.today().year
        assert this_year > START.year
        assert rows_of(table) == [
            expected_row(s, service.zone, this_year) for s in stored[:PAGE_SIZE]
        ]
        stamps = [row[0] for row in rows_of(table)]
        assert ":" in stamps[0], "this year's session shows its time"
        assert all(stamp.endswith(str(START.year)) for stamp in stamps[1:])


async def test_only_one_page_loads_until_you_scroll_down(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        for _ in range(5):
            await pilot.pause()
        assert table.row_count == PAGE_SIZE
        assert count_text(app) == f"{PAGE_SIZE}+ sessions"

        counts = await load_everything(pilot)

        stored = await stored_sessions(service_of(app))
        assert len(stored) > 3 * PAGE_SIZE
        assert counts == [2 * PAGE_SIZE, 3 * PAGE_SIZE, len(stored)], "one page per scroll"
        assert ids_of(table) == [str(s.id) for s in stored]
        assert len(set(ids_of(table))) == len(stored), "every session exactly once"
        assert rows_of(table) == [expected_row(s, service_of(app).zone) for s in stored]
        assert count_text(app) == f"{len(stored)} sessions"

        await pilot.press("end")
        await settle(pilot)
        assert table.cursor_row == len(stored) - 1
        assert table.row_count == len(stored), "past the last page nothing more loads"

        await pilot.press("home")
        await settle(pilot)
        assert (table.cursor_row, table.scroll_y) == (0, 0)
        assert table.row_count == len(stored), "going back up loads nothing"


async def test_scrolling_the_view_loads_the_next_page(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        table.scroll_end(animate=False)  # the mouse wheel's way: the cursor stays put
        await settle(pilot)
        assert table.cursor_row == 0
        assert table.row_count == 2 * PAGE_SIZE
        stored = await stored_sessions(service_of(app))
        assert ids_of(table) == [str(s.id) for s in stored[: 2 * PAGE_SIZE]]


async def test_moving_the_cursor_down_loads_the_next_page(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        await pilot.press(*["down"] * 30)
        await settle(pilot)
        assert table.row_count == PAGE_SIZE, "still far from the end"
        await pilot.press("pagedown", "pagedown")
        await settle(pilot)
        assert table.row_count == 2 * PAGE_SIZE


@pytest.mark.parametrize(
    ("statuses", "modes"),
    [
        ((Status.COMPLETED,), ()),
        ((Status.ABANDONED,), ()),
        ((), (Mode.SHORT_BREAK,)),
        ((Status.COMPLETED,), (Mode.FOCUS,)),
        ((Status.ABANDONED,), (Mode.SHORT_BREAK,)),
    ],
    ids=["completed", "abandoned", "short-breaks", "completed-focus", "none-match"],
)
async def test_filters_narrow_the_rows(
    app_factory: AppFactory,
    filled: None,
    statuses: tuple[Status, ...],
    modes: tuple[Mode, ...],
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_history(pilot)
        screen = app.screen
        if statuses:
            screen.query_one("#status", Select).value = statuses[0]
        if modes:
            screen.query_one("#mode", Select).value = modes[0]
        await settle(pilot)
        await load_everything(pilot)

        table = table_of(app)
        wanted = await stored_sessions(service_of(app), statuses, modes)
        assert ids_of(table) == [str(s.id) for s in wanted]
        assert rows_of(table) == [expected_row(s, service_of(app).zone) for s in wanted]
        noun = "session" if len(wanted) == 1 else "sessions"
        assert count_text(app) == f"{len(wanted)} {noun}"
        assert screen.query_one("#empty").display is (not wanted)


async def test_a_filter_chosen_with_the_keyboard_and_cleared_again(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        before = ids_of(table)

        await pilot.press("shift+tab")  # from the table back to the mode filter
        assert app.focused is app.screen.query_one("#mode", Select)
        await pilot.press("enter", "down", "down", "enter")  # any, Focus, Short break
        await settle(pilot)
        assert app.screen.query_one("#mode", Select).value is Mode.SHORT_BREAK
        assert {row[1] for row in rows_of(table)} == {"Short break"}
        assert table.row_count == PAGE_SIZE, "a filtered view loads a page at a time too"

        await pilot.press("enter", "up", "up", "enter")  # back to any
        await settle(pilot)
        assert app.screen.query_one("#mode", Select).is_blank()
        assert ids_of(table) == before


async def test_f_jumps_to_the_filters(app_factory: AppFactory, filled: None) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        assert table.has_focus
        await pilot.press("f")
        assert app.focused is app.screen.query_one("#status", Select)
        await pilot.press("enter", "down", "down", "down", "enter")  # any, active, paused, ...
        await settle(pilot)
        assert app.screen.query_one("#status", Select).value is Status.COMPLETED
        assert table.row_count and {row[2] for row in rows_of(table)} == {"completed"}
        await pilot.press("tab", "tab")
        assert table.has_focus, "tab goes on to the mode filter, then back to the rows"


async def test_an_empty_history_says_so(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        empty = app.screen.query_one("#empty", Label)
        assert table.row_count == 0
        assert empty.display
        assert "No sessions yet" in str(empty.render())
        assert count_text(app) == "0 sessions"
        assert table.check_action("select_cursor", ()) is None, "Details greyed out: no row"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen), "enter on no row opens nothing"


async def test_r_reloads_what_another_process_wrote(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        assert table.row_count == 0
        await finish_elsewhere(db_path, clock, "From the CLI")
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        rows = rows_of(table_of(app))
        assert [(row[1], row[2]) for row in rows] == [("From the CLI", "completed")]
        assert count_text(app) == "1 session"
        assert not app.screen.has_class("-empty")


async def test_a_filter_matching_nothing_says_so(app_factory: AppFactory, filled: None) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await open_history(pilot)
        app.screen.query_one("#status", Select).value = Status.EXPIRED
        await settle(pilot)
        empty = app.screen.query_one("#empty", Label)
        assert table_of(app).row_count == 0
        assert empty.display
        assert str(empty.render()) == "No sessions match these filters."

        app.screen.query_one("#status", Select).clear()
        await settle(pilot)
        assert table_of(app).row_count == PAGE_SIZE
        assert not empty.display


async def test_keys_move_between_the_screens(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        history = app.screen
        assert isinstance(history, HistoryScreen)
        await pilot.press("h")
        await settle(pilot)
        assert app.screen is history, "h on the history screen stays there"

        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, StatsScreen)
        assert len(app.screen_stack) == 2, "history and stats replace each other"
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert len(app.screen_stack) == 2

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, TimerScreen)
        await pilot.press("g")
        await settle(pilot)
        assert isinstance(app.screen, StatsScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, TimerScreen)
        assert len(app.screen_stack) == 1
        assert not toasts(app)


def details_of(app: FocusApp) -> dict[str, str]:
    """The details view as the user reads it: label -> value."""
    screen = app.screen
    assert isinstance(screen, SessionDetails)
    text = rich_text(screen.query_one("#details", Static).content, width=100)
    rows = {}
    for line in text.splitlines():
        if line.strip():
            label, _, value = line.strip().partition("  ")
            rows[label] = value.strip()
    return rows


def local(instant: datetime | None, service: FocusService) -> str:
    assert instant is not None
    return instant.astimezone(service.zone).strftime("%a %d %b %Y %H:%M:%S")


async def test_enter_shows_an_abandoned_sessions_details_and_esc_comes_back(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await open_history(pilot)
        service = service_of(app)
        stored = await stored_sessions(service)
        at = next(i for i, s in enumerate(stored) if s.status is Status.ABANDONED)
        gave_up = stored[at]
        await pilot.press(*["down"] * at)
        await pilot.press("enter")
        await settle(pilot)

        details = details_of(app)
        assert details["Task"] == gave_up.task_title
        assert details["Tags"] == " ".join(f"#{t}" for t in gave_up.tags)
        assert details["Status"] == "abandoned"
        assert details["Started"] == local(gave_up.started_at, service)
        assert details["Abandoned"] == local(gave_up.abandoned_at, service)
        assert details["Reason"] == gave_up.abandon_reason
        assert details["Focused"] == "7m"
        assert details["Reward"] == "none"
        assert details["Paused"] == "never"

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert table.cursor_row == at, "back on the same row"


async def test_details_of_a_completed_session_show_its_reward(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(60, 20)) as pilot:
        await open_history(pilot)
        stored = await stored_sessions(service_of(app))
        await pilot.press("enter")
        await settle(pilot)
        first = stored[0]
        assert first.mode is Mode.SHORT_BREAK and first.status is Status.COMPLETED
        details = details_of(app)
        assert details["Mode"] == "Short break"
        assert details["Completed"] == local(first.completed_at, service_of(app))
        assert details["Reward"] == f"+{first.xp_awarded} xp, +{first.coins_awarded} coins"
        assert details["Focused"] == "5m"
        assert "Reason" not in details, "only an abandoned session has a reason"


async def test_details_of_a_paused_extended_session_as_it_is_now(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        service = service_of(app)
        await service.start(Mode.FOCUS, task="Plan the week", tags=["plan"])
        clock.advance(minutes=3)
        await service.pause()
        clock.advance(minutes=2)
        await service.resume()
        clock.advance(seconds=30)
        await service.extend(5)
        await service.pause()
        paused_at = clock.now()
        clock.advance(minutes=1)
        table = await open_history(pilot)
        assert table.row_count == 1
        await pilot.press("enter")
        await settle(pilot)

        details = details_of(app)
        assert details["Status"] == "paused"
        assert details["Extended"] == "+5m (asks for 30m in all)"
        assert details["Paused"] == "2 times, 2m in all"
        assert details["Paused since"] == f"{local(paused_at, service)} (26:30 left)"
        assert details["Focused so far"] == "3m 30s"
        assert details["Reward"] == "none"

        # r reads the session again: resumed elsewhere, it now has an end.
        await service.resume()
        await pilot.press("r")
        await settle(pilot)
        details = details_of(app)
        assert details["Status"] == "active"
        assert details["Paused"] == "2 times, 3m in all"
        assert details["Ends at"] == local(clock.now() + timedelta(minutes=26, seconds=30), service)
        assert "Paused since" not in details
