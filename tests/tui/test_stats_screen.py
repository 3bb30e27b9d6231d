"""Pilot tests of the stats screen: cards, level, top lists, the 30-day chart and the heatmap."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from app.clock import FakeClock
from app.domain.models import Bucket, Mode, Status
from app.services import FocusService
from app.tui.screens.stats import HEATMAP_DAYS, StatsScreen
from app.tui.widgets.charts import DayBars, YearHeatmap
from app.tui.widgets.summary import LevelLine
from tests.tui.conftest import AppFactory
from tests.tui.helpers import (
    finish_elsewhere,
    prefill,
    rich_text,
    run_clock,
    service_of,
    settle,
    stored_sessions,
    toasts,
)


@pytest.fixture
async def filled(db_path: Path, clock: FakeClock) -> None:
    """45 days of history, ending on Wednesday 15 April 2026."""
    await prefill(db_path, clock, days=45)


def hm(seconds: int) -> str:
    minutes = seconds // 60
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def card_lines(bucket: Bucket) -> list[str]:
    rate = bucket.completion_rate
    return [
        f"{bucket.completed} session" + ("" if bucket.completed == 1 else "s"),
        f"{hm(bucket.focused_seconds)} focused",
        f"{round(rate * 100)}% completed" if rate is not None else "none ended yet",
    ]


def text_of(screen: StatsScreen, selector: str) -> str:
    content = screen.query_one(selector, Static).content
    return content.plain if isinstance(content, Text) else str(content)


async def open_stats(pilot: Pilot[None]) -> StatsScreen:
    await settle(pilot)
    await pilot.press("g")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, StatsScreen)
    return screen


async def focused_minutes_by_day(service: FocusService) -> dict[date, int]:
    """Read from the sessions themselves: completed focus counts on the day it ended."""
    seconds: dict[date, int] = defaultdict(int)
    for s in await stored_sessions(service, (Status.COMPLETED,), (Mode.FOCUS,)):
        assert s.completed_at is not None
        day = s.completed_at.astimezone(service.zone).date()
        seconds[day] += int(s.focused.total_seconds())
    return {day: total // 60 for day, total in seconds.items()}


async def test_g_opens_the_numbers_the_service_computes(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot)
        service = service_of(app)
        stats = await service.stats(days=HEATMAP_DAYS)
        today = service.today()
        assert today == date(2026, 4, 15), "the fake clock's day, never the real one"

        monday = today - timedelta(days=today.weekday())
        week = sum((b for d, b in stats.by_day.items() if d >= monday), Bucket())
        assert text_of(screen, "#card-today").splitlines() == card_lines(stats.by_day[today])
        assert text_of(screen, "#card-week").splitlines() == card_lines(week)
        assert text_of(screen, "#card-all").splitlines() == card_lines(stats.focus)
        assert stats.focus.abandoned, "the completion rate is not a trivial 100%"
        assert "89% completed" in text_of(screen, "#card-all")

        streak = stats.streak
        assert streak.current and streak.longest
        assert text_of(screen, "#card-streak").splitlines() == [
            f"{streak.current} days now",
            f"best {streak.longest} days",
            "last 15 Apr",
        ]

        level = stats.level
        widget = screen.query_one(LevelLine)
        line = widget.render()
        head = f"Level {level.level}  "
        tail = f"  {level.total_xp} / {level.next_level_xp} xp · {stats.coins} coins"
        assert line.plain.startswith(head)
        assert line.plain.endswith(tail)
        bar = line.plain.count("━")
        assert bar == min(40, widget.size.width - len(head) - len(tail)), "the meter fills the line"
        assert len(line.plain) <= widget.size.width
        filled_bar = [line.plain[s.start : s.end] for s in line.spans if s.style == "bold"][-1]
        assert filled_bar == "━" * round(level.progress * bar)
        assert not toasts(app)


async def test_top_tasks_tags_and_reasons(app_factory: AppFactory, filled: None) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot)
        stats = await service_of(app).stats(days=HEATMAP_DAYS)

        def listed(selector: str) -> list[list[str]]:
            table = screen.query_one(selector, Static).content
            return [line.split() for line in rich_text(table).splitlines()[1:] if line.strip()]

        assert listed("#top-tasks") == [
            [*name.split(), str(b.completed), str(b.focused_seconds // 60)]
            for name, b in stats.by_task[:5]
        ]
        assert listed("#top-tags") == [
            [f"#{name}", str(b.completed), str(b.focused_seconds // 60)]
            for name, b in stats.by_tag[:5]
        ]
        assert listed("#top-reasons") == [
            [*reason.split(), str(n)] for reason, n in stats.abandon_reasons[:5]
        ]


async def test_the_chart_shows_each_of_the_last_30_days(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot)
        service = service_of(app)
        today = service.today()
        from_sessions = await focused_minutes_by_day(service)

        bars = screen.query_one(DayBars)
        assert bars.today == today
        days = [today - timedelta(days=n) for n in range(29, -1, -1)]
        values = [bars.minutes.get(day, 0) for day in days]
        assert values == [from_sessions.get(day, 0) for day in days]
        assert 0 in values and max(values) > 0, "the window has empty and busy days"

        count, step, _ = bars.layout_for(bars.size.width)
        assert (count, step) == (30, 2), "at 80 columns: every day, a gap between bars"
        lines = bars.render().plain.splitlines()
        peak, axis = lines[0].split("│")[0], lines[-2]
        assert peak.strip() == str(max(values))
        left = axis.index("└") + 1
        bottom = lines[-3][left:]
        assert [bottom[step * i] != " " for i in range(30)] == [v > 0 for v in values]
        top = lines[0][left:]
        assert [top[step * i] == "█" for i in range(30)] == [v == max(values) for v in values]
        assert lines[-1].rstrip().endswith(today.strftime("%d %b"))


async def test_the_heatmap_shades_every_day_of_the_year(
    app_factory: AppFactory, filled: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot)
        service = service_of(app)
        today = service.today()
        from_sessions = await focused_minutes_by_day(service)

        heatmap = screen.query_one(YearHeatmap)
        assert heatmap.today == today
        rendered = heatmap.render()
        lines = rendered.plain.splitlines()
        starts = [sum(len(line) + 1 for line in lines[:n]) for n in range(len(lines))]
        style_at = {s.start: s.style for s in rendered.spans if s.end - s.start == 1}
        shades = {
            name: heatmap.get_component_rich_style(f"heatmap--{name}")
            for name in ("empty", "l1", "l2", "l3", "l4")
        }

        def shade(minutes: int) -> str:  # any focus, a pomodoro, two, four
            return ("empty", "l1", "l2", "l3", "l4")[sum(minutes >= m for m in (1, 25, 50, 100))]

        first = today - timedelta(days=today.weekday(), weeks=52)
        seen = set()
        for offset in range((today - first).days + 1):
            day = first + timedelta(days=offset)
            week, weekday = divmod(offset, 7)
            at = starts[1 + weekday] + 4 + week
            assert rendered.plain[at] == "■"
            assert style_at[at] == shades[shade(from_sessions.get(day, 0))], day
            seen.add(shade(from_sessions.get(day, 0)))
        assert {"empty", "l4"} <= seen
        for later in range(today.weekday() + 1, 7):  # the rest of this week is blank
            assert rendered.plain[starts[1 + later] + 4 + 52] == " "


async def test_a_session_finished_in_the_app_shows_up(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot)
        assert text_of(screen, "#card-today").splitlines() == card_lines(Bucket())
        assert text_of(screen, "#card-streak").splitlines()[2] == "no focus day yet"
        assert "no tasks yet" in rich_text(screen.query_one("#top-tasks", Static).content)
        empty_chart = screen.query_one(DayBars).render().plain
        assert "no focus on these days yet" in empty_chart, "an empty chart says why"
        await pilot.press("escape")

        app.timer_screen.query_one("#task").value = "Write tests"  # type: ignore[attr-defined]
        await pilot.press("space")
        await settle(pilot)
        await run_clock(pilot, clock, 25 * 60 + 1, step=4)
        screen = await open_stats(pilot)
        lines = text_of(screen, "#card-today").splitlines()
        assert lines == ["1 session", "25m focused", "100% completed"]
        assert text_of(screen, "#card-streak").splitlines()[0] == "1 day now"
        bars = screen.query_one(DayBars)
        assert bars.minutes == {service_of(app).today(): 25}
        assert "no focus" not in bars.render().plain
        assert (
            text_of(screen, "#card-streak").splitlines()[2]
            == f"last {service_of(app).today():%d %b}"
        )
        assert "Write tests" in rich_text(screen.query_one("#top-tasks", Static).content)


async def test_r_reloads_what_another_process_wrote(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot)
        assert text_of(screen, "#card-all").splitlines() == card_lines(Bucket())
        await finish_elsewhere(db_path, clock, "From the CLI")
        await pilot.press("r")
        await settle(pilot)
        assert app.screen is screen
        assert text_of(screen, "#card-all").splitlines() == [
            "1 session",
            "20m focused",
            "100% completed",
        ]
        assert "From the CLI" in rich_text(screen.query_one("#top-tasks", Static).content)


async def test_the_open_session_is_shown_apart_from_the_totals(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_stats(pilot)
        assert not screen.query_one("#open-line").display
        await pilot.press("escape")
        await pilot.press("space")
        await settle(pilot)
        await run_clock(pilot, clock, 90, step=3)
        screen = await open_stats(pilot)
        line = screen.query_one("#open-line")
        assert line.display
        assert text_of(screen, "#open-line") == (
            "Now: focus active, 23:30 left, 1m focused so far (counted when it ends)"
        )
        assert text_of(screen, "#card-today").splitlines()[0] == "0 sessions"
