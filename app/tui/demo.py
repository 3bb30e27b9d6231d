"""`focus demo` in the app: a throwaway store, a scaled clock, and a guide of what to press.

`DemoApp` is the Focus app over a temp SQLite file; a docked `DemoGuide` on the timer screen
says what to press next, from the session's state. With `autoplay` the app plays the demo's
script by itself through the screen's own actions (by binding id, as keys would), each step
captioned in the guide, then hands the keyboard over.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.css.query import NoMatches
from textual.widgets import Input, Static
from textual.worker import WorkerState

from app.config import Settings
from app.demo import UNATTENDED, DemoClock, open_store
from app.domain.models import Mode, Session, Status
from app.keymap import DEFAULT_KEYS
from app.notify import Notifier
from app.tui.app import FocusApp
from app.tui.screens.dialogs import AbandonDialog
from app.tui.screens.timer import TimerScreen
from app.tui.sleep import SleepWatch

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.demo_servers import DemoServers
    from app.hooks import HookResult

POLL_SECONDS = 0.05


class DemoGuide(Static):
    """The guide under the timer: what to press next, or the autoplay's caption."""

    DEFAULT_CSS = """
    DemoGuide {
        dock: bottom;
        height: auto;
        max-height: 4;
        padding: 0 1;
        margin-bottom: 1;
        background: $primary 20%;
        color: $text;
    }
    """


class DemoApp(FocusApp):
    """The Focus app on a throwaway store in `folder`, its clock `speed` times real time."""

    def __init__(
        self,
        settings: Settings,
        clock: DemoClock,
        folder: Path,
        *,
        servers: DemoServers | None = None,
        autoplay: bool = False,
        notifier: Notifier | None = None,
    ) -> None:
        self.demo_clock = clock
        self.folder = folder
        self.servers = servers
        self.autoplay = autoplay
        self.autoplaying = autoplay
        self.demo_store: Container | None = None
        self.captions: list[tuple[str, str]] = []
        """Every autoplay step shown: (name, caption)."""
        self.guide_text = ""
        self.handle_signals = False
        """Set by `run_demo_tui`: signals end the app (tests leave the test runner's)."""
        self.focus_id: Any = None
        """The autoplay's first focus session."""
        self._progress = ""
        super().__init__(settings, clock, opener=self._open_demo_store, notifier=notifier)

    async def _open_demo_store(self, on_hook_failure: Callable[[HookResult], None]) -> Container:
        self.demo_store = await open_store(
            self.folder / "demo.db", self.demo_clock, self.settings, threaded=True
        )
        if self.servers is not None:
            # Only now: opening a new store runs Alembic, which `server init` runs too,
            # and Alembic's context is one per process.
            self.servers.start()
        return self.demo_store

    def on_mount(self) -> None:
        super().on_mount()
        if self.handle_signals:
            # SIGTERM or a SIGINT from outside (ctrl+c itself is a key here): leave as `q`
            # does, so the terminal is restored and the demo's things are removed.
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self.exit)
        self.sub_title = f"Demo · {self.demo_clock.speed:g}x"
        self.set_interval(0.2, self.follow_screen)
        self.screen_change_signal.subscribe(self, lambda _: self.follow_screen())
        if self.autoplay:
            self.play()

    # -- the guide ---------------------------------------------------------------------

    def key(self, binding_id: str) -> str:
        keys = self.settings.keys.get(binding_id) or DEFAULT_KEYS.get(binding_id, "")
        return keys.split(",")[0].strip()

    def follow_screen(self) -> None:
        """On the timer screen: the guide is there and the sleep watch knows the speed."""
        screen = self.screen
        if not isinstance(screen, TimerScreen):
            return
        watch = getattr(screen, "sleep_watch", None)
        if isinstance(watch, SleepWatch) and not isinstance(watch, ScaledSleepWatch):
            # Ticks come every tick_seconds of real time, `speed` times that on the clock:
            # without this every tick would look like a suspend.
            screen.sleep_watch = ScaledSleepWatch(
                self.settings.timer.tick_seconds, self.demo_clock.speed
            )
        try:
            guide = screen.query_one(DemoGuide)
        except NoMatches:
            guide = DemoGuide(self.guide_text, id="demo-guide")
            screen.mount(guide)
        title = f"Timer · demo at {self.demo_clock.speed:g}x"
        if screen.sub_title != title:  # the screen names itself when it mounts
            screen.sub_title = title
        if not self.autoplaying:
            self.refresh_guide()
        guide.update(self.guide_text + (f"\n{self._progress}" if self._progress else ""))

    def show(self, text: str) -> None:
        self.guide_text = text
        self.follow_screen()

    @work(exclusive=True, exit_on_error=False, group="demo-guide")
    async def refresh_guide(self) -> None:
        store = self.demo_store
        if store is None:
            return
        current = await store.repo.open_session()
        last = None
        if current is None:
            page = await store.service.history(limit=1)
            last = page.sessions[0] if page.sessions else None
        text = await self.hint(current, last)
        if text != self.guide_text:
            self.guide_text = text
            self.follow_screen()

    async def hint(self, current: Session | None, last: Session | None) -> str:
        """One line (80 columns) saying what to press now."""
        space, c, x = self.key("start_pause"), self.key("complete"), self.key("abandon")
        e, m, t = self.key("extend"), self.key("next_mode"), self.key("edit_task")
        g, h = self.key("stats"), self.key("history")
        if current is not None and current.status is Status.PAUSED:
            limit = self.settings.timer.max_pause_minutes
            return (
                f"Paused: the time left is frozen. {space} resumes (expires after {limit:g} "
                "min paused)."
            )
        if current is not None and current.mode is Mode.FOCUS:
            return f"Focusing: {space} pauses · {e} +5 min · {c} completes · {x} abandons · or wait"
        if current is not None:
            return f"On a break: let it run out, or {c} ends it. Then {space} starts the next."
        if last is None:
            minutes, speed = self.settings.timer.focus_minutes, self.demo_clock.speed
            return (
                f"Demo at {speed:g}x: a {minutes:g}-minute session takes "
                f"{minutes * 60 / speed:.0f} s. {space} starts one · {t} task · {m} mode"
            )
        if last.status is Status.COMPLETED and last.mode is Mode.FOCUS:
            stats = await self.demo_store.service.stats(1) if self.demo_store else None
            level = f", level {stats.level.level}" if stats else ""
            return (
                f"Done: +{last.xp_awarded} xp, +{last.coins_awarded} coins{level} · {space} "
                f"starts the break · {g} stats · {h} history"
            )
        if last.status is Status.ABANDONED:
            why = f" ({last.abandon_reason})" if last.abandon_reason else ""
            return f"Abandoned{why}: no reward. {space} starts again · {g} shows the stats."
        if last.status is Status.EXPIRED:
            return f"Expired, unattended past its grace: no reward. {space} starts again."
        return f"{last.mode.label.capitalize()} over. {space} starts the next session."

    # -- autoplay ------------------------------------------------------------------------

    def caption(self, name: str, text: str) -> None:
        self.captions.append((name, text))
        self.show(f"Autoplay {len(self.captions)}: {text}")

    def progress(self, done: int, total: int) -> None:
        width = 30
        filled = round(width * done / total) if total else width
        pct = 100 * done // total if total else 100
        self._progress = f"[{'█' * filled}{'░' * (width - filled)}] {pct}%"
        self.follow_screen()

    async def act(self, action: str) -> bool:
        """A screen's action by its binding's action name, as its key would run it; False
        when the screen refuses it now (the state it shows does not allow it)."""
        return await self.run_action(f"screen.{action}")

    async def press_until(
        self, action: str, ready: Callable[[], Awaitable[Any]], what: str, tries: int = 8
    ) -> Any:
        """Run `action` until `ready()` answers: the screen shows the store's state a moment
        after the store, and a key pressed in between may be refused or lost, as a user's."""
        for _ in range(tries):
            if found := await ready():
                return found
            # A key pressed while the screen's own check is queued may be dropped by it:
            # press when the screen's session work is done.
            await self.wait_for(self._screen_settled, what="the screen to settle")
            await self.act(action)
            deadline = time.monotonic() + 5  # a loaded machine answers late, not never
            while time.monotonic() < deadline:
                if found := await ready():
                    return found
                await asyncio.sleep(POLL_SECONDS)
        shown = getattr(self.screen, "session", None)
        raise TimeoutError(
            f"the demo waited in vain for {what} (the screen shows "
            f"{shown.status.value if shown else 'no session'})"
        )

    async def wait_for(
        self,
        ready: Callable[[], Awaitable[Any]],
        minutes: float = 0.0,
        what: str = "",
        patience: float = 15.0,
    ) -> Any:
        """Poll until `ready()` answers something truthy; give up well after `minutes`."""
        deadline = time.monotonic() + minutes * 60 / self.demo_clock.speed * 3 + patience
        while time.monotonic() < deadline:
            found = await ready()
            if found:
                return found
            await asyncio.sleep(POLL_SECONDS)
        raise TimeoutError(f"the demo waited in vain for {what}")

    async def sim_wait(self, minutes: float) -> None:
        await asyncio.sleep(minutes * 60 / self.demo_clock.speed)

    async def open_in(self, *statuses: Status) -> Session | None:
        assert self.demo_store is not None
        found = await self.demo_store.repo.open_session()
        return found if found is not None and found.status in statuses else None

    async def ended(self, session_id: Any, status: Status) -> Session | None:
        assert self.demo_store is not None
        found = await self.demo_store.repo.get_session(session_id)
        return found if found is not None and found.status is status else None

    async def pick(self, mode: Mode) -> None:
        for _ in range(3):
            if getattr(self.screen, "mode", mode) is mode:
                return
            await self.act("next_mode")

    def type_task(self, task: str) -> None:
        with contextlib.suppress(NoMatches):  # a screen without the field: no task
            self.screen.query_one("#task", Input).value = task

    async def start(self, mode: Mode, task: str = "") -> Session:
        await self.wait_for(self._screen_idle, what="the timer to show no session")
        await self.pick(mode)
        if task:
            self.type_task(task)
        found: Session = await self.press_until(
            "start", lambda: self.open_in(Status.ACTIVE), "a session to start"
        )
        return found

    @work(exclusive=True, exit_on_error=False, group="demo-autoplay")
    async def play(self) -> None:
        try:
            await self.wait_for(self._timer_ready, what="the store to open", patience=60)
            for name, scene in SCRIPT:
                await scene(self, name)
        except Exception as exc:
            self.caption("failed", f"The autoplay stopped: {exc}")
            raise
        finally:
            self.autoplaying = False
            self._progress = ""
            self.refresh_guide()

    async def _screen_settled(self) -> bool:
        busy = (WorkerState.PENDING, WorkerState.RUNNING)
        return not any(w.group == "session" and w.state in busy for w in self.workers)

    async def _screen_idle(self) -> bool:
        """The timer screen shows no open session (it follows the store a moment later)."""
        return isinstance(self.screen, TimerScreen) and getattr(self.screen, "session", 0) is None

    async def _timer_ready(self) -> bool:
        return self.demo_store is not None and isinstance(self.screen, TimerScreen)


class ScaledSleepWatch(SleepWatch):
    """A suspend is a gap of many ticks in real time: on a scaled clock, `speed` times more."""

    def __init__(self, tick_seconds: float, speed: float) -> None:
        super().__init__(tick_seconds * speed)


# -- the script: each scene captions itself, then acts through the screen's actions --------


async def _start(app: DemoApp, name: str) -> None:
    minutes = app.settings.timer.focus_minutes
    app.caption(
        name,
        f"{app.key('start_pause')} starts a {minutes:g}-minute focus session "
        f"({minutes * 60 / app.demo_clock.speed:.0f} s at {app.demo_clock.speed:g}x).",
    )
    app.focus_id = (await app.start(Mode.FOCUS, "Demo: write the intro")).id
    await app.sim_wait(10)


async def _pause(app: DemoApp, name: str) -> None:
    app.caption(name, f"10 minutes in, {app.key('start_pause')} pauses: the time left freezes.")
    await app.press_until("pause", lambda: app.open_in(Status.PAUSED), "the pause")
    await app.sim_wait(2)


async def _resume(app: DemoApp, name: str) -> None:
    app.caption(name, f"{app.key('start_pause')} resumes; now it runs to the end by itself.")
    await app.press_until("resume", lambda: app.open_in(Status.ACTIVE), "the resume")


async def _complete(app: DemoApp, name: str) -> None:
    done: Session = await app.wait_for(
        lambda: app.ended(app.focus_id, Status.COMPLETED), 25, "the session to complete"
    )
    assert app.demo_store is not None
    level = (await app.demo_store.service.stats(1)).level
    app.caption(
        name,
        f"Completed: +{done.xp_awarded} xp, +{done.coins_awarded} coins, level {level.level} "
        f"({level.total_xp}/{level.next_level_xp} xp).",
    )
    await app.sim_wait(1)


async def _break(app: DemoApp, name: str) -> None:
    app.caption(name, f"{app.key('start_pause')} starts the suggested short break.")
    brk = await app.start(Mode.SHORT_BREAK)
    await app.wait_for(lambda: app.ended(brk.id, Status.COMPLETED), 5, "the break to end")


async def _abandon(app: DemoApp, name: str) -> None:
    app.caption(name, "A new focus session; a phone call: x abandons it, with a reason.")
    await app.start(Mode.FOCUS, "Demo: answer mail")
    await app.sim_wait(3)
    s = await app.open_in(Status.ACTIVE)
    assert s is not None
    dialog = await app.press_until("abandon", lambda: _dialog(app), "the abandon dialog")
    dialog.query_one("#reason", Input).value = "phone call"
    await app.act("abandon")  # the dialog's own action (its enter)
    await app.wait_for(lambda: app.ended(s.id, Status.ABANDONED), what="the abandon")


async def _dialog(app: DemoApp) -> AbandonDialog | None:
    """The abandon dialog, once its reason field is there."""
    screen = app.screen
    if isinstance(screen, AbandonDialog) and screen.query("#reason"):
        return screen
    return None


async def _expire(app: DemoApp, name: str) -> None:
    app.caption(
        name,
        f"Another session, then nobody comes back: the clock jumps {UNATTENDED.seconds // 60} "
        "minutes, past its grace.",
    )
    s = await app.start(Mode.FOCUS, "Demo: left running")
    await app.sim_wait(1)
    app.demo_clock.skip(UNATTENDED)
    watch = getattr(app.screen, "sleep_watch", None)
    if isinstance(watch, SleepWatch):
        watch.reset(app.demo_clock.now())  # the jump is the demo's, not a suspend
    await app.wait_for(lambda: app.ended(s.id, Status.EXPIRED), what="the expiry")
    app.caption("expired", "Expired: unattended past its grace, no reward.")
    await app.sim_wait(1)


async def _online(app: DemoApp, name: str) -> None:
    from app.demo_online import play_sync, play_upload
    from app.demo_servers import EXTRA_NOTICE, ExtraMissing

    servers = app.servers
    if servers is None:
        app.caption(name, EXTRA_NOTICE)
        return
    app.caption(name, "Starting a throwaway Postgres and S3 server...")
    try:
        pg = await servers.postgres()
        s3 = await servers.object_store()
    except ExtraMissing:
        app.caption(name, EXTRA_NOTICE)
        return
    app.caption(
        "servers",
        f"Throwaway servers up: Postgres ({pg.user['role']}) and S3 at {s3.endpoint}.",
    )
    assert app.demo_store is not None

    def step(step_name: str, text: str, /, **outcome: Any) -> None:
        app.caption(step_name, text)

    second = await open_store(app.folder / "second-device.db", app.demo_clock, app.settings)
    try:
        await play_sync(app.demo_store, second, pg, step)
    finally:
        await second.close()
    await app.sim_wait(1)
    await play_upload(app.demo_store, app.folder, s3, pg, step, app.progress)
    await asyncio.sleep(1)
    app._progress = ""


async def _done(app: DemoApp, name: str) -> None:
    app.caption(name, "That was the demo. Your turn: the keys below work; q quits.")
    await asyncio.sleep(1.5)


SCRIPT: list[tuple[str, Callable[[DemoApp, str], Awaitable[None]]]] = [
    ("start", _start),
    ("pause", _pause),
    ("resume", _resume),
    ("complete", _complete),
    ("break", _break),
    ("abandon", _abandon),
    ("unattended", _expire),
    ("online", _online),
    ("done", _done),
]


def run_demo_tui(
    speed: float,
    settings: Settings,
    folder: Path,
    servers: DemoServers | None,
    *,
    autoplay: bool = False,
) -> int:
    app = DemoApp(settings, DemoClock(speed), folder, servers=servers, autoplay=autoplay)
    app.handle_signals = True
    app.run()
    return app.return_code or 0
