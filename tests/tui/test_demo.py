"""`focus demo` in the app: the guide follows the session, and `--autoplay` plays the script
by itself (captioned, through the screen's own actions), then the keys are the user's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from app.config import Settings
from app.demo import DemoClock, throwaway
from app.demo_servers import DemoServers
from app.domain.models import Mode, Status
from app.notify import Notifier
from app.tui.demo import DemoApp, DemoGuide
from app.tui.screens.timer import TimerScreen

CAPTIONS = [
    "start",
    "pause",
    "resume",
    "complete",
    "break",
    "abandon",
    "unattended",
    "expired",
    "online",
    "servers",
    "sync push",
    "sync pull",
    "histories",
    "track add",
    "upload",
    "dedupe",
    "tracks synced",
    "done",
]


def _app(
    folder: Path, speed: float, servers: DemoServers | None = None, autoplay: bool = False
) -> DemoApp:
    quiet = Notifier(search_path=str(folder / "no-bin"))  # no desktop notifications
    clock = DemoClock(speed)
    # Ticks every half second: at these speeds the screen re-reads the store at every tick,
    # and on a loaded machine those reads can keep a key's action waiting (see the report).
    settings = Settings.from_mapping({"timer": {"tick_seconds": 0.5}})
    return DemoApp(settings, clock, folder, servers=servers, autoplay=autoplay, notifier=quiet)


async def _until(pilot: Pilot[None], ready: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        await pilot.pause(0.05)
    raise AssertionError("timed out")


def _guide(app: DemoApp) -> str:
    """The guide's text on the timer screen ('' until it is there)."""
    for screen in app.screen_stack:
        if isinstance(screen, TimerScreen) and screen.query(DemoGuide):
            return str(screen.query_one(DemoGuide).render())
    return ""


async def test_autoplay_captions_every_step_in_order_then_hands_over_the_keys() -> None:
    with throwaway(servers=True) as (folder, servers):
        app = _app(folder, 200, servers=servers, autoplay=True)
        async with app.run_test(size=(80, 24)) as pilot:
            seen: list[str] = []

            def shown() -> bool:
                if isinstance(app.screen, TimerScreen) and app.captions:
                    text = _guide(app)
                    if text not in seen:
                        seen.append(text)
                return not app.autoplaying

            await _until(pilot, shown, 90)
            names = [name for name, _ in app.captions]
            assert names == CAPTIONS, app.captions[-1]
            texts = dict(app.captions)
            assert "+25 xp" in texts["complete"] and "level 1" in texts["complete"]
            assert "same 4 sessions" in texts["histories"]
            assert "0 bytes" in texts["dedupe"]
            # Each caption reached the screen, in order (some may pass between two looks).
            shown_order = [
                i for i, (_, text) in enumerate(app.captions) if any(text in s for s in seen)
            ]
            assert shown_order == sorted(shown_order) and len(shown_order) >= len(CAPTIONS) // 2

            store = app.demo_store
            assert store is not None
            history = (await store.service.history(limit=10)).sessions
            statuses = sorted(s.status.value for s in history)
            assert statuses == ["abandoned", "completed", "completed", "expired"]
            assert await store.repo.open_session() is None

            # The keyboard is the user's now: space starts a session.
            await pilot.press("space")

            async def started() -> bool:
                s = await store.repo.open_session()
                return s is not None and s.status is Status.ACTIVE

            for _ in range(100):
                if await started():
                    break
                await asyncio.sleep(0.05)
            assert await started()
            # The guide follows: it now says what to press during this session.
            now_open = await store.repo.open_session()
            assert now_open is not None
            wanted = "Focusing:" if now_open.mode is Mode.FOCUS else "On a break"
            await _until(pilot, lambda: wanted in _guide(app), 10)
    assert not folder.exists()


async def test_the_guide_says_what_to_press_next_from_the_session_state() -> None:
    with throwaway(servers=False) as (folder, servers):
        assert servers is None
        app = _app(folder, 60)
        async with app.run_test(size=(80, 24)) as pilot:
            await _until(pilot, lambda: "space starts one" in _guide(app), 30)
            assert "25 s" in _guide(app) and app.screen.sub_title == "Timer · demo at 60x"
            at_press = app.demo_clock.now()
            await pilot.press("space")
            await _until(pilot, lambda: "Focusing: space pauses" in _guide(app), 10)
            await pilot.press("space")
            await _until(pilot, lambda: "Paused: the time left is frozen" in _guide(app), 10)
            store = app.demo_store
            assert store is not None
            paused = await store.repo.open_session()
            assert paused is not None and paused.status is Status.PAUSED
            # The session's instants come from the demo's clock, 60 times real time.
            assert at_press <= paused.started_at <= app.demo_clock.now()
            real0, demo0 = time.monotonic(), app.demo_clock.now()
            await asyncio.sleep(0.3)
            demo = (app.demo_clock.now() - demo0).total_seconds()
            assert 30 < demo / (time.monotonic() - real0) < 90
            await pilot.press("x")
            await _until(pilot, lambda: bool(app.screen.query("#reason")), 10)
            await pilot.press("enter")
            await _until(pilot, lambda: "Abandoned: no reward" in _guide(app), 10)
    assert not folder.exists()
