"""Pilot tests of the timer's keys as a daily user meets them: quick mode presses, editing
the open session's title and tags, footers that list the keys that act, keys that wait."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import events
from textual.screen import Screen
from textual.widgets import Input, Tabs
from textual.widgets._footer import FooterKey

from app.bootstrap import bootstrap
from app.clock import FakeClock
from app.config import Settings
from app.domain.models import Mode, Status
from app.tui.screens.dialogs import AbandonDialog, ConfirmDialog
from app.tui.screens.stats import StatsScreen
from app.tui.screens.timer import TimerScreen
from tests.tui.conftest import AppFactory
from tests.tui.helpers import run_clock, service_of, settle, shown, start_with_space, toasts


def footer_keys(screen: Screen[Any]) -> dict[str, str]:
    """key -> description of every enabled key the screen's own footer shows."""
    return {k.key: k.description for k in screen.query(FooterKey) if not k._disabled}


def count_mode_picks(timer: TimerScreen) -> list[Mode]:
    picks: list[Mode] = []
    original = timer.pick_mode

    def counting(mode: Mode) -> None:
        picks.append(mode)
        original(mode)

    timer.pick_mode = counting  # type: ignore[method-assign]
    return picks


async def test_five_quick_m_presses_pick_once_each_and_space_starts_the_mode_shown(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        timer = app.timer_screen
        picks = count_mode_picks(timer)
        # As a terminal delivers keys typed quickly: all queued before the first is handled
        # (`pilot.press` would wait for the app to go idle after each).
        for _ in range(5):
            app.post_message(events.Key("m", "m"))
        await pilot.pause(0.3)
        assert len(picks) == 5, picks
        await pilot.pause(0.5)  # a flip loop would keep picking while the app idles
        assert len(picks) == 5, "setting the tab from code re-entered the mode handler"
        tabs = timer.query_one(Tabs)
        assert tabs.active == "mode-long_break" and shown(app) == "15:00"

        await pilot.press("space")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.mode is Mode.LONG_BREAK
        assert tabs.active == f"mode-{session.mode.value}"
        assert not isinstance(app.screen, ConfirmDialog)
        await pilot.pause(0.5)
        assert len(picks) == 5


async def test_a_tab_clicked_by_the_user_still_picks_the_mode(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        picks = count_mode_picks(app.timer_screen)
        await pilot.click("#mode-short_break")
        await pilot.pause(0.2)
        assert picks == [Mode.SHORT_BREAK]
        assert shown(app) == "05:00"


async def test_the_running_sessions_title_and_tags_are_typed_in_and_saved(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        before = await service_of(app).status()
        assert before is not None and before.task_title is None
        await run_clock(pilot, clock, 10)

        # The repro: every letter typed here is a timer key (e extends, g opens Stats...).
        await pilot.press("t", *"Write report", "tab", *"writing, work")
        await pilot.pause()
        assert footer_keys(app.screen).get("enter") == "Save"
        await pilot.press("enter")
        await settle(pilot)

        after = await service_of(app).status()
        assert after is not None and after.id == before.id
        assert (after.task_title, after.tags) == ("Write report", ("writing", "work"))
        assert after.status is Status.ACTIVE and not after.extended
        assert after.version > before.version
        assert app.screen is app.timer_screen and not isinstance(app.screen, StatsScreen)
        assert app.timer_screen.focused is None
        assert shown(app) == "24:50", "the countdown went on meanwhile"
        assert any(t == "Task" and "saved" in m for t, m in toasts(app))

        # esc leaves without saving, and says so.
        await pilot.press("t", "ctrl+u", *"Something else", "escape")
        await settle(pilot)
        unchanged = await service_of(app).status()
        assert unchanged is not None and unchanged.task_title == "Write report"
        assert app.timer_screen.query_one("#task", Input).value == "Write report"
        assert any(t == "Task" and m.startswith("Not saved") for t, m in toasts(app))

        # Once the session ends, the fields hold the next session's draft again.
        await pilot.press("c")
        await settle(pilot)
        assert app.timer_screen.query_one("#task", Input).value == ""


async def test_t_edits_a_paused_session_too_and_a_blank_title_clears_it(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.timer_screen.query_one("#task", Input).value = "Draft"
        await pilot.press("space")
        await settle(pilot)
        await pilot.press("space")  # pause
        await settle(pilot)
        await pilot.press("t", "ctrl+u", "enter")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.PAUSED
        assert session.task_title is None


async def test_the_footer_while_typing_says_enter_starts_and_esc(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t", *"plan")
        await pilot.pause()
        keys = footer_keys(app.screen)
        assert keys.get("enter") == "Start" and keys.get("escape") == "Done", keys
        assert "space" not in keys and "c" not in keys, "typed keys are not the timer's here"
        await pilot.press("escape")
        await pilot.pause()
        keys = footer_keys(app.screen)
        assert keys.get("space") == "Start" and "enter" not in keys, keys


async def test_the_confirm_dialog_footer_lists_its_own_keys(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await pilot.press("m")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ConfirmDialog)
        assert footer_keys(app.screen) == {"y": "Yes", "n": "No", "escape": "Cancel"}
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("x")
        await pilot.pause(0.2)
        assert isinstance(app.screen, AbandonDialog)
        keys = footer_keys(app.screen)
        assert keys == {"enter": "Abandon", "escape": "Keep going"}, keys
        await pilot.press("escape")
        await settle(pilot)
        assert (await service_of(app).status()) is not None


async def test_with_the_database_unavailable_every_key_says_what_the_caption_says(
    app_factory: AppFactory, db_path: Path
) -> None:
    db_path.write_bytes(b"this is not a database at all\n" * 200)
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):
            if toasts(app):
                break
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.ready and app.screen is app.opening
        caption = str(app.opening.countdown.caption)
        assert caption.startswith("Database unavailable: ")
        for key in ("space", "t", "m", "c", "h", "g"):
            await pilot.press(key)
            await pilot.pause()
        later = [m for _, m in toasts(app)[1:]]
        assert len(later) == 6 and all(m == caption for m in later), later
        assert app.is_running


async def test_editing_only_the_tags_keeps_a_title_shown_escaped_as_it_is_stored(
    app_factory: AppFactory, db_path: Path, clock: FakeClock
) -> None:
    hostile = "\x1b[2J[bold]x"
    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    try:
        await container.service.start(Mode.FOCUS, task=hostile, tags=["old"])
    finally:
        await container.close()
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        task = app.timer_screen.query_one("#task", Input)
        assert task.value == "\\x1b[2J[bold]x", "shown as the characters it is made of"
        await pilot.press("t", "tab", "ctrl+u", *"new", "enter")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None
        assert (session.task_title, session.tags) == (hostile, ("new",))
        await pilot.press("t", "enter")  # nothing typed over: nothing written, and said
        await settle(pilot)
        assert any(m.startswith("Nothing to save") for _, m in toasts(app))
        unchanged = await service_of(app).status()
        assert unchanged is not None and unchanged.version == session.version


async def test_a_check_due_at_a_tick_never_cancels_a_change_just_asked_for(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        timer = app.timer_screen
        timer.recheck()  # a re-read of the store is due at the next tick
        timer.abandon_session("phone")  # as the abandon dialog's answer starts it
        timer.tick()  # before that worker ran: the check must wait, not cancel it
        await settle(pilot)
        assert await service_of(app).status() is None
        last = (await service_of(app).history(limit=1)).sessions[0]
        assert (last.status, last.abandon_reason) == (Status.ABANDONED, "phone")


async def test_keys_with_no_session_to_act_on_are_dimmed_and_say_why(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        dimmed: set[str] = set()
        for _ in range(100):  # the footer recomposes once the bindings settle (slower under load)
            await pilot.pause(0.05)
            dimmed = {k.key for k in app.screen.query(FooterKey) if k._disabled}
            if {"c", "x", "e"} <= dimmed:
                break
        assert {"c", "x", "e"} <= dimmed
        await pilot.press("c", "x", "e")
        await settle(pilot)
        said = [m for t, m in toasts(app) if t == "Not allowed"]
        assert said == [
            "There is no open session to complete.",
            "There is no open session to abandon.",
            "There is no open session to extend.",
        ]
        assert await service_of(app).status() is None
