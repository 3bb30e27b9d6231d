"""Pilot tests of what the config changes in the app: keys, auto-start, hooks, ask on wake."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

from textual.binding import Binding
from textual.command import CommandPalette

from app.clock import FakeClock
from app.domain.models import Mode, Status
from app.keymap import DEFAULT_KEYS
from app.tui.app import COMMANDS, FocusApp
from app.tui.screens.dialogs import SleepDialog
from app.tui.screens.reading import ReadingScreen
from app.tui.screens.timer import TimerScreen
from app.tui.tracks import TracksScreen
from tests.tui.conftest import AppFactory
from tests.tui.helpers import run_clock, service_of, settle, start_with_space, toasts


def test_the_keymap_table_is_every_binding_id_with_its_default_key() -> None:
    # The config checks `[keys]` against app.keymap, which must not drift from the screens.
    found: dict[str, set[str]] = {}
    for node in (FocusApp, TimerScreen, ReadingScreen, TracksScreen):
        for binding in node.BINDINGS:
            if isinstance(binding, Binding) and binding.id:
                found.setdefault(binding.id, set()).add(binding.key)
    assert found == {binding: {key} for binding, key in DEFAULT_KEYS.items()}


async def test_keys_can_be_remapped(app_factory: AppFactory) -> None:
    app = app_factory(keys={"start_pause": "s"})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.ACTIVE
        assert app.key_for("start_pause") == "s" and app.key_for("quit") == "q"
        assert not [m for t, m in toasts(app) if t == "Configuration"]


async def test_the_command_palette_lists_every_action(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {command.title for command in COMMANDS} <= titles
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


async def test_auto_start_breaks_starts_the_break_and_long_break_comes_after_the_cycle(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory(
        timer={
            "focus_minutes": 1,
            "short_break_minutes": 1,
            "long_break_every": 2,
            "auto_start_breaks": True,
        }
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await run_clock(pilot, clock, 61, step=2)
        first_break = await service_of(app).status()
        assert first_break is not None and first_break.mode is Mode.SHORT_BREAK
        await run_clock(pilot, clock, 61, step=2)
        assert await service_of(app).status() is None  # auto_start_focus is off
        await pilot.press("space")
        await settle(pilot)
        await run_clock(pilot, clock, 61, step=2)
        second_break = await service_of(app).status()
        assert second_break is not None and second_break.mode is Mode.LONG_BREAK


async def test_hooks_run_from_the_app_and_a_failing_one_is_reported(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    out = tmp_path / "hook.out"
    app = app_factory(
        hooks={
            "start": f'printf "%s\\n%s" "$FOCUS_EVENT" "$FOCUS_SESSION" > "{out}"',
            "pause": "exit 3",
        }
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await pilot.press("space")
        await settle(pilot)
        for _ in range(100):
            await pilot.pause(0.05)
            if out.exists() and any(t == "Hook failed" for t, _ in toasts(app)):
                break
        event, payload = out.read_text().split("\n", 1)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.PAUSED
        assert event == "start" and json.loads(payload)["id"] == str(session.id)
        assert any(t == "Hook failed" for t, _ in toasts(app))


async def test_ask_on_wake_applies_the_answer(app_factory: AppFactory, clock: FakeClock) -> None:
    app = app_factory(timer={"sleep_policy": "ask"})
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await run_clock(pilot, clock, 10)
        clock.advance(minutes=5)
        app.timer_screen.tick()
        await pilot.pause()
        assert isinstance(app.screen, SleepDialog)
        await pilot.press("c")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.ACTIVE
        assert session.slept == timedelta(minutes=5)


async def test_a_locked_database_is_a_titled_notification_and_the_app_goes_on(
    app_factory: AppFactory, db_path: Path
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            await pilot.press("space")
            await settle(pilot)  # waits out the busy timeout
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert any("locked" in m for _, m in toasts(app))
        assert await service_of(app).status() is None
        assert app.screen is app.timer_screen
        await pilot.press("space")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.ACTIVE
