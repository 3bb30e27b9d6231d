"""The Focus Textual app: builds the screens over a FocusService and owns app-wide keys.

The database is opened inside the app's own event loop, after the first frame, so the
timer screen appears at once; tests hand in a ready service built on a `FakeClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen, Screen

from app.config import Settings
from app.domain.errors import FocusError
from app.keymap import DEFAULT_KEYS
from app.notify import Notifier
from app.textsafe import visible
from app.tui.errors import describe, report
from app.tui.screens.history import HistoryScreen
from app.tui.screens.stats import StatsScreen
from app.tui.screens.timer import TimerScreen
from app.tui.screens.timer_flows import SessionFlows
from app.tui.sync import SyncingApp, sync_configured
from app.tui.tracks import MusicApp, TracksScreen

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.clock import Clock
    from app.hooks import HookResult
    from app.services import FocusService

Opener = Callable[[Callable[["HookResult"], None]], Awaitable["Container"]]
"""Opens the store and builds the services; receives the hook-failure callback."""

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("start_pause", "Start / pause / resume", "Start a session, or pause or resume the open one"),
    ("complete", "Complete session", "Finish the open session now (rewards the time spent)"),
    ("abandon", "Abandon session", "Give up the open session, with an optional reason"),
    ("extend", "Extend by 5 minutes", "Add five minutes to the open session"),
    ("next_mode", "Next mode", "Switch between focus, short break and long break"),
    ("edit_task", "Edit task", "Type the task title and tags for the next session"),
    ("history", "History", "Every session, newest first, with filters"),
    ("stats", "Stats", "Today, this week, all time, charts, streaks and top tasks"),
    ("tracks", "Tracks", "Focus music: libraries, tracks, the track played during focus"),
    ("quit", "Quit", "Leave Focus; a running session keeps running"),
)
"""Palette entries: binding id, title, help."""
SYNC_COMMAND = (
    "sync_now",
    "Sync now",
    "Push this device's changes to the sync server and pull the other devices'",
)
"""Listed only with `[sync]` configured."""


class FocusApp(SyncingApp, MusicApp):
    """A focus timer over `FocusService`: pass `service` (tests) or `opener` (the CLI)."""

    CSS_PATH = str(Path(__file__).with_name("app.tcss"))
    TITLE = "Focus"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(DEFAULT_KEYS["history"], "history", "History", id="history"),
        Binding(DEFAULT_KEYS["stats"], "stats", "Stats", id="stats"),
        # Not in the footer: at 80 columns it would push Quit off the timer screen's.
        Binding(DEFAULT_KEYS["tracks"], "tracks", "Tracks", id="tracks", show=False),
        Binding(DEFAULT_KEYS["quit"], "quit", "Quit", id="quit"),
        # Enabled only with `[sync]` configured (see `check_action`).
        Binding(DEFAULT_KEYS["sync_now"], "sync_now", "Sync", id="sync_now", show=False),
        Binding(
            DEFAULT_KEYS["command_palette"],
            "command_palette",
            "",
            id="command_palette",
            show=False,
            priority=True,
        ),
    ]

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        service: FocusService | None = None,
        opener: Opener | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.service = service
        self.opener = opener
        self.container: Container | None = None
        self.notifier = notifier or Notifier()
        self.timer_screen = TimerScreen(settings, clock, self.notifier)

    def get_default_screen(self) -> Screen[None]:
        return self.timer_screen

    def on_mount(self) -> None:
        self._apply_theme()
        self._apply_keymap()
        self.start_music()
        if self.service is not None:
            self.timer_screen.connect(self.service)
            self.load_focus_track()
        elif self.opener is not None:
            self.call_after_refresh(self.open_store)

    async def on_unmount(self) -> None:
        self.stop_music()
        await self.stop_syncing()
        if self.container is not None:
            # Leaving anyway; every change is committed already.
            with contextlib.suppress(Exception):
                await self.container.close()

    def _apply_theme(self) -> None:
        theme = self.settings.tui.theme
        if theme in self.available_themes:
            self.theme = theme
        else:
            self.notify(
                f"Unknown theme {theme!r}; using {self.theme}. "
                f"Known: {', '.join(sorted(self.available_themes))}.",
                title="Configuration",
                severity="warning",
                markup=False,
            )

    def _apply_keymap(self) -> None:
        # `[keys]` was checked against app.keymap when the settings were loaded.
        self.set_keymap(dict(self.settings.keys))

    # -- the store ---------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="open")
    async def open_store(self) -> None:
        assert self.opener is not None
        try:
            self.container = await self.opener(self.hook_failed)
        except Exception as exc:
            report(self, exc, "Opening the database")
            self.timer_screen.unavailable(f"Database unavailable: {describe(exc)[1]}")
            return
        self.service = self.container.service
        self.timer_screen.connect(self.service)
        self.start_syncing()
        self.load_focus_track()

    def hook_failed(self, result: HookResult) -> None:
        self.notify(
            visible(result.describe()),
            title="Hook failed",
            severity="warning",
            timeout=8,
            markup=False,
        )

    # -- app-wide actions --------------------------------------------------------------

    @on(SessionFlows.Changed)
    def _store_changed(self) -> None:
        self.note_change()
        self.follow_timer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sync_now":
            return sync_configured(self.settings)
        # A dialog waits for its answer: no screen may open over it.
        return not (
            action in ("history", "stats", "tracks") and isinstance(self.screen, ModalScreen)
        )

    def _open_screen(self, kind: type[HistoryScreen | StatsScreen | TracksScreen]) -> None:
        if self.service is None:
            self.timer_screen.no_store()
            return
        if isinstance(self.screen, kind):
            return
        screen: Screen[None]
        if issubclass(kind, TracksScreen):
            tracks = self.tracks_service()
            assert tracks is not None
            screen = TracksScreen(tracks, self.settings.tracks.max_file_mb * 2**20)
        else:
            screen = kind(self.service)
        if isinstance(self.screen, HistoryScreen | StatsScreen | TracksScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def action_history(self) -> None:
        self._open_screen(HistoryScreen)

    def action_stats(self) -> None:
        self._open_screen(StatsScreen)

    def action_tracks(self) -> None:
        self._open_screen(TracksScreen)

    def _timer_action(self, name: str) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        getattr(self.timer_screen, f"action_{name}")()

    def key_for(self, binding_id: str) -> str:
        keys = self.settings.keys.get(binding_id, DEFAULT_KEYS.get(binding_id, ""))
        return keys.split(",")[0].strip()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        commands = COMMANDS + ((SYNC_COMMAND,) if sync_configured(self.settings) else ())
        for binding_id, title, help_text in commands:
            key = self.key_for(binding_id)
            if binding_id in ("history", "stats", "tracks", "quit", "sync_now"):
                callback = getattr(self, f"action_{binding_id}")
            else:
                callback = lambda name=binding_id: self._timer_action(name)  # noqa: E731
            yield SystemCommand(title, f"{help_text} · key: {key}", callback)
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command


def _open_with(config: str | None, db: str | None, settings: Settings, clock: Clock) -> Opener:
    async def opener(on_hook_failure: Callable[[HookResult], None]) -> Container:
        # SQLAlchemy and Alembic take a while to import: load them off the event loop.
        boot = await asyncio.to_thread(importlib.import_module, "app.bootstrap")
        container: Container = await boot.bootstrap(
            config,
            db,
            clock=clock,
            settings=settings,
            on_hook_failure=on_hook_failure,
            threaded=True,
        )
        return container

    return opener


def run_tui(config: str | None, db: str | None) -> int:
    """`focus` with no command: open the app on the configured database."""
    from app.clock import SystemClock
    from app.config import load_settings

    try:
        settings, _ = load_settings(config)
    except FocusError as exc:
        sys.stderr.write(f"focus: {exc.message}\n")
        return exc.exit_code
    clock = SystemClock()
    app = FocusApp(settings, clock, opener=_open_with(config, db, settings, clock))
    app.run()
    return app.return_code or 0
