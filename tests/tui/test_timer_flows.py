"""Pilot tests of the timer screen: start, pause, resume, complete, abandon, extend, modes."""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import Digits, Input, Tabs

from app.clock import FakeClock
from app.domain.models import Mode, Status
from app.tui.screens.dialogs import AbandonDialog, ConfirmDialog
from app.tui.widgets.summary import Summary
from tests.tui.conftest import AppFactory
from tests.tui.helpers import run_clock, service_of, settle, shown, start_with_space, toasts


async def test_opens_on_the_idle_timer(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert shown(app) == "25:00"
        assert "Ready" in app.timer_screen.countdown.caption
        assert app.timer_screen.query_one(Tabs).active == "mode-focus"


async def test_space_starts_pauses_and_resumes(app_factory: AppFactory, clock: FakeClock) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.ACTIVE
        assert session.planned == timedelta(minutes=25)

        await run_clock(pilot, clock, 61)
        assert shown(app) == "23:59"

        await pilot.press("space")
        await settle(pilot)
        assert (await service_of(app).status()).status is Status.PAUSED  # type: ignore[union-attr]
        await run_clock(pilot, clock, 30, step=3)
        assert shown(app) == "23:59", "a paused display does not move"

        await pilot.press("space")
        await settle(pilot)
        await run_clock(pilot, clock, 1)
        assert shown(app) == "23:58"
        resumed = await service_of(app).status()
        assert resumed is not None and resumed.status is Status.ACTIVE
        assert resumed.paused_total == timedelta(seconds=30)


async def test_remaining_time_comes_from_the_clock_not_from_ticks(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        clock.advance(4.5)  # one tick after 4.5 s shows 4.5 s gone, not one tick's worth
        app.timer_screen.tick()
        assert shown(app) == "24:56"


async def test_a_tick_inside_the_same_second_repaints_nothing(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        digits = app.timer_screen.query_one("#clock", Digits)
        updates: list[str] = []
        original = digits.update

        def counting(value: str) -> None:
            updates.append(value)
            original(value)

        digits.update = counting  # type: ignore[method-assign]
        for _ in range(8):  # two seconds in quarter-second ticks
            clock.advance(0.25)
            app.timer_screen.tick()
        assert updates == ["24:59", "24:58"]


async def test_complete_rewards_and_offers_a_break(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        task = app.timer_screen.query_one("#task", Input)
        task.value = "Write tests"
        app.timer_screen.query_one("#tags", Input).value = "#deep, tui"
        await pilot.press("space")
        await settle(pilot)
        await run_clock(pilot, clock, 600, step=4)
        await pilot.press("c")
        await settle(pilot)

        last = (await service_of(app).history(limit=1)).sessions[0]
        assert last.status is Status.COMPLETED
        assert (last.task_title, last.tags) == ("Write tests", ("deep", "tui"))
        assert last.xp_awarded == 10
        assert any(t == "Focus complete" and "+10 xp" in m for t, m in toasts(app))
        assert app.timer_screen.session is None
        assert app.timer_screen.query_one(Tabs).active == "mode-short_break"
        assert shown(app) == "05:00"
        summary = app.timer_screen.query_one(Summary)
        assert summary.stats is not None and summary.stats.level.total_xp == 10


async def test_abandon_asks_for_an_optional_reason(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)

        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, AbandonDialog)
        await pilot.press("escape")  # keep going
        await settle(pilot)
        assert (await service_of(app).status()) is not None

        await pilot.press("x")
        await pilot.pause()
        await pilot.press(*"phone", "enter")
        await settle(pilot)
        assert await service_of(app).status() is None
        last = (await service_of(app).history(limit=1)).sessions[0]
        assert (last.status, last.abandon_reason) == (Status.ABANDONED, "phone")
        assert shown(app) == "25:00"


async def test_extend_adds_five_minutes(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await pilot.press("e")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.extended == timedelta(minutes=5)
        assert shown(app) == "30:00"
        assert "+5m" in app.timer_screen.countdown.caption


async def test_m_cycles_the_mode_while_idle(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await pilot.pause()
        assert shown(app) == "05:00"
        await pilot.press("m")
        await pilot.pause()
        assert shown(app) == "15:00"
        await pilot.press("space")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.mode is Mode.LONG_BREAK
        assert session.task_title is None, "breaks are not stored against the task"


async def test_switching_mode_with_an_open_session_asks_first(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        first = await service_of(app).status()

        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert (await service_of(app).status()) == first
        assert app.timer_screen.query_one(Tabs).active == "mode-focus"

        await pilot.press("m")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        now_open = await service_of(app).status()
        assert now_open is not None and now_open.mode is Mode.SHORT_BREAK
        old = [s for s in (await service_of(app).history()).sessions if s.id == first.id]  # type: ignore[union-attr]
        assert old[0].status is Status.ABANDONED


async def test_starting_over_a_session_opened_elsewhere_asks_first(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # `focus start` in another terminal, which this screen has not seen yet.
        await service_of(app).start(Mode.SHORT_BREAK)
        await pilot.press("space")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert app.timer_screen.session is not None, "the open session is shown meanwhile"
        await pilot.press("y")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.mode is Mode.FOCUS


async def test_enter_in_the_task_field_starts(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await pilot.press(*"plan", "space", *"q3", "enter")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.task_title == "plan q3"
        assert app.timer_screen.focused is None, "enter leaves the field: keys act again"
        assert app.timer_screen.query_one("#task", Input).value == "plan q3"
