"""Pilot tests across the session's life: it ends by itself, survives a quit, and a suspend."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from app.clock import FakeClock
from app.domain.models import Status
from tests.tui.conftest import AppFactory
from tests.tui.helpers import (
    fake_tool,
    run_clock,
    service_of,
    settle,
    shown,
    start_with_space,
    toasts,
)


async def test_a_one_minute_session_completes_by_itself_with_every_alert(
    app_factory: AppFactory, clock: FakeClock, bin_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "notify.log"
    fake_tool(bin_dir, "notify-send", log)
    app = app_factory(timer={"focus_minutes": 1})
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        started = await service_of(app).status()
        assert started is not None and started.ends_at is not None
        await run_clock(pilot, clock, 61, step=2)
        await settle(pilot)
        done = (await service_of(app).history(limit=1)).sessions[0]
        assert done.id == started.id
        assert done.status is Status.COMPLETED
        assert done.completed_at == started.ends_at
        assert done.xp_awarded == 5 and done.coins_awarded == 2  # max(5, 1), max(2, 0)
        assert any(t == "Focus complete" for t, _ in toasts(app))
        assert bells == [1]
        assert "Focus complete" in log.read_text()
        assert app.timer_screen.session is None


async def test_without_a_notifier_the_app_says_so_once(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    app = app_factory(timer={"focus_minutes": 1})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for _ in range(2):
            app.timer_screen.mode = app.timer_screen.mode.FOCUS
            await pilot.press("space")
            await settle(pilot)
            await run_clock(pilot, clock, 62, step=2)
            await settle(pilot)
            await settle(pilot)
        completed = [s for s in (await service_of(app).history(limit=5)).sessions]
        assert [s.status for s in completed].count(Status.COMPLETED) == 2
        said = [t for t, _ in toasts(app) if t == "No desktop notifications"]
        assert said == ["No desktop notifications"]


async def test_quit_keeps_the_session_running_and_reopening_shows_the_right_time(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    first = app_factory()
    async with first.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await run_clock(pilot, clock, 30)
        assert shown(first) == "24:30"
        await pilot.press("q")
    clock.advance(minutes=2)
    again = app_factory()
    async with again.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        session = await service_of(again).status()
        assert session is not None and session.status is Status.ACTIVE
        assert shown(again) == "22:30"
        assert again.timer_screen.session is not None
        assert again.timer_screen.session.id == session.id


async def test_a_session_that_ran_out_while_closed_is_reported_on_reopen(
    app_factory: AppFactory, clock: FakeClock
) -> None:
    first = app_factory()
    async with first.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await pilot.press("q")
    clock.advance(minutes=30)  # ended 5 minutes ago: inside the grace window
    again = app_factory()
    async with again.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        done = (await service_of(again).history(limit=1)).sessions[0]
        assert done.status is Status.COMPLETED and done.xp_awarded == 25
        assert again.timer_screen.session is None
        assert any(t == "Focus complete" for t, _ in toasts(again))


@pytest.mark.parametrize("policy", ["pause", "count"])
async def test_a_suspend_is_handled_per_sleep_policy(
    app_factory: AppFactory, clock: FakeClock, policy: str
) -> None:
    app = app_factory(timer={"sleep_policy": policy})
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await run_clock(pilot, clock, 60)
        before = await service_of(app).status()
        assert before is not None
        clock.advance(minutes=10)  # the machine slept: no tick for ten minutes
        app.timer_screen.tick()
        await settle(pilot)
        after = await service_of(app).status()
        assert after is not None
        assert after.slept == timedelta(minutes=10)
        if policy == "pause":
            assert after.status is Status.PAUSED
            assert after.paused_remaining == timedelta(minutes=24)
            assert any(t == "Welcome back" for t, _ in toasts(app))
            assert shown(app) == "24:00"
        else:
            assert after.status is Status.ACTIVE
            assert after.ends_at == before.ends_at
            assert shown(app) == "14:00"


async def test_a_key_pressed_while_a_background_check_runs_is_acted_on_after_it(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        with app.timer_screen.busy():  # as during the startup or the 15 s poll
            await pilot.press("space")
            await pilot.pause()
            assert await service_of(app).status() is None
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.ACTIVE


async def test_the_configured_sound_is_played_by_the_configured_player(
    app_factory: AppFactory, clock: FakeClock, bin_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "player.log"
    fake_tool(bin_dir, "myplayer", log)
    sound = tmp_path / "bell.wav"
    sound.write_bytes(b"RIFF")
    app = app_factory(
        timer={"focus_minutes": 1},
        notify={"desktop": False, "sound_file": str(sound), "sound_player": "myplayer"},
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await start_with_space(pilot)
        await run_clock(pilot, clock, 61, step=2)
        await settle(pilot)
        for _ in range(50):
            if log.exists():
                break
            await pilot.pause(0.05)
        assert str(sound) in log.read_text().splitlines()
        assert not [t for t, _ in toasts(app) if t == "No sound"]
