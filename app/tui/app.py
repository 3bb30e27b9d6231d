"""The Focus Textual app: builds the screens over a FocusService and owns app-wide keys.

The database is opened inside the app's own event loop, after the first frame, so the
timer's look appears at once (`OpeningScreen`); the timer screen proper is built over the
open service, so nothing in it waits for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.command import CommandPalette
from textual.screen import ModalScreen, Screen
from textual.timer import Timer

from app.config import Settings
from app.domain.errors import FocusError
from app.keymap import DEFAULT_KEYS
from app.notify import Notifier
from app.textsafe import visible
from app.tui.errors import describe, report
from app.tui.screens.history import HistoryScreen
from app.tui.screens.stats import StatsScreen
from app.tui.screens.timer import OpeningScreen, TimerScreen
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


@dataclass(frozen=True, slots=True)
class Command:
    """A palette entry: its binding id (for the key shown), title, help, and what it does."""

    binding_id: str
    title: str
    help: str
    run: Callable[[FocusApp], object]


def _on_timer(action: Callable[[TimerScreen], object]) -> Callable[[FocusApp], object]:
    return lambda app: app.run_on_timer(action)


COMMANDS: tuple[Command, ...] = (
    Command(
        "start_pause",
        "Start / pause / resume",
        "Start a session, or pause or resume the open one",
        _on_timer(TimerScreen.action_start_pause),
    ),
    Command(
        "complete",
        "Complete session",
        "Finish the open session now (rewards the time spent)",
        _on_timer(TimerScreen.action_complete),
    ),
    Command(
        "abandon",
        "Abandon session",
        "Give up the open session, with an optional reason",
        _on_timer(TimerScreen.action_abandon),
    ),
    Command(
        "extend",
        "Extend by 5 minutes",
        "Add five minutes to the open session",
        _on_timer(TimerScreen.action_extend),
    ),
    Command(
        "next_mode",
        "Next mode",
        "Switch between focus, short break and long break",
        _on_timer(TimerScreen.action_next_mode),
    ),
    Command(
        "edit_task",
        "Edit task",
        "Type the task title and tags: of the next session, or of the open one",
        _on_timer(TimerScreen.action_edit_task),
    ),
    Command(
        "history",
        "History",
        "Every session, newest first, with filters",
        lambda app: app.action_history(),
    ),
    Command(
        "stats",
        "Stats",
        "Today, this week, all time, charts, streaks and top tasks",
        lambda app: app.action_stats(),
    ),
    Command(
        "tracks",
        "Tracks",
        "Focus music: libraries, tracks, the track played during focus",
        lambda app: app.action_tracks(),
    ),
    Command(
        "quit",
        "Quit",
        "Leave Focus; a running session keeps running",
        lambda app: app.action_quit(),
    ),
)
"""The palette's entries."""
THEME_SETTLE_SECONDS = 1.0
"""A theme kept this long (real seconds), with the palette closed, is saved in the config."""
TIMER_MODE = "timer"
"""The app's mode once the store is open (the default mode holds the waiting screen)."""
SYNC_COMMAND = Command(
    "sync_now",
    "Sync now",
    "Push this device's changes to the sync server and pull the other devices'",
    lambda app: app.action_sync_now(),
)
"""Listed only with `[sync]` configured."""


class FocusApp(SyncingApp, MusicApp):
    """A focus timer over `FocusService`, opened by `opener` inside the app's own loop.

    `OpeningScreen` shows at once; when the store is open the app switches to a
    `TimerScreen` built over it (`timer_screen`, which exists from then on only).
    """

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
        opener: Opener,
        *,
        notifier: Notifier | None = None,
        config_file: Path | None = None,
    ) -> None:
        super().__init__()
        self.config_file = config_file
        """Where a theme chosen in the palette is remembered (None: not remembered)."""
        self._saved_theme = settings.tui.theme
        self._theme_timer: Timer | None = None
        self.settings = settings
        self.clock = clock
        self.opener = opener
        self.service: FocusService | None = None
        """Set once the store is open and the timer screen shown."""
        self.container: Container | None = None
        self.notifier = notifier or Notifier()
        self.opening = OpeningScreen(settings, clock)

    def get_default_screen(self) -> Screen[None]:
        return self.opening

    @property
    def ready(self) -> bool:
        """The store is open and the timer screen shown."""
        return self.service is not None

    def on_mount(self) -> None:
        self._apply_theme()
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self._apply_keymap()
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

    def _theme_changed(self, _theme: object) -> None:
        # The palette previews each theme it highlights: save once the choice settles.
        if self._theme_timer is not None:
            self._theme_timer.stop()
        self._theme_timer = self.set_timer(THEME_SETTLE_SECONDS, self._theme_settled)

    def _theme_settled(self) -> None:
        self._theme_timer = None
        if isinstance(self.screen, CommandPalette):
            self._theme_timer = self.set_timer(THEME_SETTLE_SECONDS, self._theme_settled)
        elif self.config_file is not None and self.theme != self._saved_theme:
            self.save_theme(self.theme)

    @work(exclusive=True, exit_on_error=False, group="theme")
    async def save_theme(self, theme: str) -> None:
        from app.config_write import remember

        assert self.config_file is not None
        try:
            await asyncio.to_thread(remember, self.config_file, "tui", "theme", theme)
        except FocusError as exc:
            self.notify(exc.message, title="Theme not saved", severity="warning", markup=False)
            return
        self._saved_theme = theme
        env = "FOCUS_TUI__THEME" if "FOCUS_TUI__THEME" in os.environ else None
        env = env or ("FOCUS_TUI" if "FOCUS_TUI" in os.environ else None)
        where = visible(str(self.config_file))
        self.notify(
            f"Theme {theme} saved in {where}"
            + (f"; {env} in the environment still wins at the next start." if env else "."),
            title="Theme",
            markup=False,
        )

    def _apply_keymap(self) -> None:
        # `[keys]` was checked against app.keymap when the settings were loaded.
        self.set_keymap(dict(self.settings.keys))

    # -- the store ---------------------------------------------------------------------

    @work(exclusive=True, exit_on_error=False, group="open")
    async def open_store(self) -> None:
        try:
            container = await self.opener(self.hook_failed)
        except Exception as exc:
            report(self, exc, "Opening the database")
            self.opening.unavailable(f"Database unavailable: {describe(exc)[1]}")
            return
        self.container = container
        self.timer_screen = TimerScreen(self.settings, self.clock, container.service, self.notifier)
        # The timer gets a mode of its own: the waiting screen (and anything opened over
        # it, the palette say) stays behind in the default mode, out of sight.
        timer = self.timer_screen
        self.add_mode(TIMER_MODE, lambda: timer)
        await self.switch_mode(TIMER_MODE)
        self.service = container.service
        self.start_music()
        self.start_syncing()
        self.load_focus_track()

    def no_store(self) -> None:
        """Say why an action that needs the store cannot act: still opening, or failed."""
        self.opening.no_store()

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
            self.no_store()
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

    def run_on_timer(self, action: Callable[[TimerScreen], object]) -> None:
        """Run a timer action from the palette: back on the timer screen first."""
        if self.service is None:
            self.no_store()
            return
        if any(
            isinstance(s, ModalScreen) and not isinstance(s, CommandPalette)
            for s in self.screen_stack
        ):
            self.notify("Answer the open question first.", title="Focus")
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()
        action(self.timer_screen)

    def key_for(self, binding_id: str) -> str:
        keys = self.settings.keys.get(binding_id, DEFAULT_KEYS.get(binding_id, ""))
        return keys.split(",")[0].strip()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        commands = COMMANDS + ((SYNC_COMMAND,) if sync_configured(self.settings) else ())
        for entry in commands:
            key = self.key_for(entry.binding_id)
            run = entry.run
            yield SystemCommand(
                entry.title, f"{entry.help} · key: {key}", lambda run=run: run(self)
            )
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
        settings, config_file = load_settings(config)
    except FocusError as exc:
        sys.stderr.write(f"focus: {exc.message}\n")
        return exc.exit_code
    clock = SystemClock()
    opener = _open_with(config, db, settings, clock)
    app = FocusApp(settings, clock, opener, config_file=config_file)
    app.run()
    return app.return_code or 0
