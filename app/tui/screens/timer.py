"""The timer screen: remaining time, mode, task and tags, today's summary, and the flows.

The remaining time is derived from the clock at every tick (`timer.remaining`), never by
counting ticks; the widgets only repaint when the displayed second changes. Every database
call runs in a worker of the `session` group, one at a time (`_busy`), so the clock keeps
ticking while a locked database makes a write wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Tab, Tabs

from app.config import Settings
from app.domain import timer
from app.domain.errors import RefusedError
from app.domain.models import Mode, Session, Status
from app.notify import Notifier, Outcome
from app.presenters import ceil_seconds, clock_text
from app.tui.endings import auto_start, end_message
from app.tui.errors import report
from app.tui.screens.dialogs import AbandonDialog, ConfirmDialog, SleepDialog
from app.tui.sleep import Gap, SleepWatch
from app.tui.text import MODE_ORDER, MODE_TITLES, gap_text, local_time, next_mode, parse_tags
from app.tui.widgets.countdown import Countdown
from app.tui.widgets.summary import Summary

if TYPE_CHECKING:
    from app.clock import Clock
    from app.services import FocusService

EXTEND_MINUTES = 5
POLL = timedelta(seconds=15)
"""How often the open session is re-read, to pick up changes made by `focus` commands."""
RETRY = timedelta(seconds=5)
"""Wait before settling again after a failed attempt (a locked database, say)."""


class TimerScreen(Screen[None]):
    """The main screen; the app hands it the service once the database is open."""

    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [
        # One id for the three: a `[keys]` remap moves them together; the footer shows the
        # one that applies (see `check_action`).
        Binding("space", "start", "Start", id="start_pause"),
        Binding("space", "pause", "Pause", id="start_pause"),
        Binding("space", "resume", "Resume", id="start_pause"),
        Binding("c", "complete", "Done", id="complete"),
        Binding("x", "abandon", "Abandon", id="abandon"),
        Binding("e", "extend", f"+{EXTEND_MINUTES}m", id="extend"),
        Binding("m", "next_mode", "Mode", id="next_mode"),
        Binding("t", "edit_task", "Task", id="edit_task", show=False),
        Binding("escape", "leave_input", "Done", show=False),
    ]

    def __init__(self, settings: Settings, clock: Clock, notifier: Notifier) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.notifier = notifier
        self.service: FocusService | None = None
        self.session: Session | None = None
        self.mode = Mode.FOCUS
        self.sleep_watch = SleepWatch(settings.timer.tick_seconds)
        self._busy = False
        self._pending_gap: Gap | None = None
        self._asking = False
        self._retry_at: datetime | None = None
        self._next_poll: datetime | None = None
        self._said: set[str] = set()
        self._draft = ("", "")
        self._queued: str | None = None

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(*(Tab(MODE_TITLES[m], id=f"mode-{m.value}") for m in MODE_ORDER), id="modes")
        yield Countdown(id="countdown")
        with Horizontal(id="task-row"):
            yield Input(placeholder="What are you working on?", id="task", max_length=200)
            yield Input(placeholder="#tags", id="tags")
        yield Summary(id="summary")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Timer"
        self.show_session(None)
        self.countdown.caption = "Opening the database…"
        self.set_interval(self.settings.timer.tick_seconds, self.tick)
        if self.service is not None:
            self._connected()

    @property
    def countdown(self) -> Countdown:
        return self.query_one(Countdown)

    def key_for(self, binding_id: str, default: str) -> str:
        return self.settings.keys.get(binding_id, default).split(",")[0].strip()

    def planned(self, mode: Mode) -> int:
        t = self.settings.timer
        minutes = {
            Mode.FOCUS: t.focus_minutes,
            Mode.SHORT_BREAK: t.short_break_minutes,
            Mode.LONG_BREAK: t.long_break_minutes,
        }[mode]
        return round(minutes * 60)

    def show_session(self, session: Session | None) -> None:
        """Show `session` (or the idle selected mode): the parts that change only on events."""
        was_open = self.session is not None
        self.session = session
        countdown = self.countdown
        mode = session.mode if session else self.mode
        self.query_one(Tabs).active = f"mode-{mode.value}"
        for m in MODE_ORDER:
            self.set_class(m is mode, f"-mode-{m.value}")
        state = session.status.value if session else "idle"
        for name in ("idle", "active", "paused"):
            self.set_class(state == name, f"-{name}")
        task, tags = self.query_one("#task", Input), self.query_one("#tags", Input)
        countdown.border_title = MODE_TITLES[mode]
        if session is None:
            countdown.total = self.planned(mode)
            countdown.remaining = self.planned(mode)
            key = self.key_for("start_pause", "space")
            countdown.caption = f"Ready · {key} to start" if self.service else countdown.caption
            countdown.border_subtitle = ""
            if was_open or task.disabled:
                task.value, tags.value = self._draft
            task.disabled = tags.disabled = False
        else:
            if not was_open:
                self._draft = (task.value, tags.value)
            task.value = session.task_title or ""
            tags.value = " ".join(f"#{t}" for t in session.tags)
            task.disabled = tags.disabled = True
            countdown.total = int(session.target.total_seconds())
            countdown.remaining = ceil_seconds(timer.remaining(session, self.clock.now()))
            countdown.caption = self.caption(session)
            countdown.border_subtitle = (session.task_title or "")[:40]
        self.refresh_bindings()

    def caption(self, session: Session) -> str:
        zone = self.service.zone if self.service else None
        extra = f" · +{int(session.extended.total_seconds()) // 60}m" if session.extended else ""
        if session.status is Status.PAUSED:
            key = self.key_for("start_pause", "space")
            return f"Paused · {key} to resume{extra}"
        ends = local_time(session.ends_at, zone) if zone else "--:--"
        return f"Running · ends at {ends}{extra}"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        status = self.session.status if self.session else None
        if action == "start":
            return status is None
        if action == "pause":
            return status is Status.ACTIVE
        if action == "resume":
            return status is Status.PAUSED
        if action in ("complete", "abandon", "extend"):
            return status is not None or None
        return True

    # -- the clock ---------------------------------------------------------------------

    def tick(self) -> None:
        """Called every `tick_seconds`: repaint if the second changed, settle at zero."""
        now = self.clock.now()
        gap = self.sleep_watch.check(now)
        session = self.session
        if gap is not None and session is not None:
            first = self._pending_gap.slept if self._pending_gap else gap.slept
            self._pending_gap = Gap(first, gap.woke)
        if session is not None:
            self.countdown.remaining = ceil_seconds(timer.remaining(session, now))
        if self.service is None or self._busy or self._asking:
            return
        if self._pending_gap is not None:
            self._handle_gap(self._pending_gap)
            self._pending_gap = None
        elif (
            session is not None
            and session.status is Status.ACTIVE
            and session.ends_at is not None
            and now >= session.ends_at
            and (self._retry_at is None or now >= self._retry_at)
        ):
            self.sync()
        elif self._next_poll is not None and now >= self._next_poll:
            self.sync(quiet=True)

    def _handle_gap(self, gap: Gap) -> None:
        session = self.session
        if session is None:
            return
        policy = self.settings.timer.sleep_policy
        if policy == "ask" and session.status is Status.ACTIVE:
            self._asking = True
            what = f"{session.mode.label} session"

            def answered(choice: str | None) -> None:
                self._asking = False
                self.apply_sleep(gap, choice or "pause")

            self.app.push_screen(SleepDialog(gap_text(gap.length), what), answered)
            return
        self.apply_sleep(gap, "pause" if policy == "ask" else policy)

    # -- database work -----------------------------------------------------------------

    @contextmanager
    def busy(self) -> Iterator[None]:
        self._busy = True
        try:
            yield
        finally:
            self._busy = False
            self._next_poll = self.clock.now() + POLL
            queued, self._queued = self._queued, None
            if queued is not None:
                # A key pressed while a background check ran: act on it now, not never.
                self.call_later(getattr(self, f"action_{queued}"))

    def connect(self, service: FocusService) -> None:
        """The database is open: show the stored session, as the CLI would see it."""
        self.service = service
        if self.is_mounted:
            self._connected()

    def _connected(self) -> None:
        self.show_session(self.session)
        self.sync(startup=True)

    def unavailable(self, message: str) -> None:
        self.countdown.caption = message

    @work(exclusive=True, exit_on_error=False, group="session")
    async def sync(self, startup: bool = False, quiet: bool = False) -> None:
        """Settle against the clock and re-read the open session (changes from the CLI)."""
        service = self.service
        if service is None:
            return
        known = self.session
        with self.busy():
            try:
                finished = await service.settle()
                current = await service.status()
                if finished is None and known is not None and current is None:
                    finished = await self._find_finished(known)
            except Exception as exc:
                self._retry_at = self.clock.now() + RETRY
                if not quiet:
                    report(self, exc, "Checking the session")
                return
            self._retry_at = None
            if current is None or known is None or current.version != known.version:
                self.show_session(current)
            if finished is not None:
                await self._finished(finished, by_timer=not startup, while_closed=startup)
        if startup or finished is not None:
            self.refresh_summary()

    @work(exclusive=True, exit_on_error=False, group="session")
    async def start(self, mode: Mode, force: bool = False) -> None:
        service = self.service
        if service is None:
            return
        task = self.query_one("#task", Input).value if mode is Mode.FOCUS else ""
        tags = parse_tags(self.query_one("#tags", Input).value) if mode is Mode.FOCUS else []
        with self.busy():
            try:
                if not force and (current := await service.status()) is not None:
                    self.show_session(current)
                    self.confirm_replace(current, mode)
                    return
                session = await service.start(mode, task=task or None, tags=tags, force=force)
            except Exception as exc:
                report(self, exc, "Starting")
                return
            self.mode = mode
            self.sleep_watch.reset(self.clock.now())
            self.show_session(session)

    @work(exclusive=True, exit_on_error=False, group="session")
    async def change(self, action: str, reason: str | None = None) -> None:
        """pause, resume, extend or abandon the open session."""
        service = self.service
        if service is None:
            return
        with self.busy():
            try:
                if action == "pause":
                    session = await service.pause()
                elif action == "resume":
                    session = await service.resume()
                elif action == "extend":
                    session = await service.extend(EXTEND_MINUTES)
                else:
                    session = await service.abandon(reason)
            except Exception as exc:
                report(self, exc, action.capitalize())
                self._next_poll = self.clock.now()
                return
            if action == "abandon":
                self.show_session(None)
                self.notify(f"{MODE_TITLES[session.mode]} abandoned.", title="Abandoned")
                self.refresh_summary()
            else:
                if action == "resume":
                    self.sleep_watch.reset(self.clock.now())
                self.show_session(session)

    @work(exclusive=True, exit_on_error=False, group="session")
    async def complete(self) -> None:
        service = self.service
        if service is None:
            return
        with self.busy():
            try:
                done = await service.complete()
                self.show_session(None)
                await self._finished(done.session, by_timer=False)
            except Exception as exc:
                report(self, exc, "Completing")
                self._next_poll = self.clock.now()
                return
        self.refresh_summary()

    @work(exclusive=True, exit_on_error=False, group="session")
    async def apply_sleep(self, gap: Gap, policy: str) -> None:
        service = self.service
        if service is None:
            return
        with self.busy():
            try:
                session = await service.record_sleep(gap.slept, gap.woke, policy)
            except RefusedError:
                self._next_poll = self.clock.now()
                return
            except Exception as exc:
                report(self, exc, "Recording the suspend")
                return
            self.show_session(session if session.status.is_open else None)
        length = gap_text(gap.length)
        if policy == "count":
            self.notify(f"The {length} asleep counted as focus.", title="Welcome back")
        elif session.status is Status.PAUSED:
            zone = service.zone
            key = self.key_for("start_pause", "space")
            self.notify(
                f"Paused at {local_time(gap.slept, zone)}, when the machine slept ({length}). "
                f"Press {key} to resume.",
                title="Welcome back",
                timeout=10,
            )

    @work(exclusive=True, exit_on_error=False, group="summary")
    async def refresh_summary(self) -> None:
        service = self.service
        if service is None:
            return
        try:
            stats = await service.stats(days=1)
        except Exception as exc:
            report(self, exc, "Loading today's totals")
            return
        summary = self.query_one(Summary)
        before = summary.stats
        summary.today = service.today()
        summary.stats = stats
        if before is not None and stats.level.level > before.level.level:
            self.notify(f"You reached level {stats.level.level}.", title="Level up!", timeout=8)

    # -- end of session ----------------------------------------------------------------

    async def _find_finished(self, known: Session) -> Session | None:
        """The terminal state of a session that another process finished, if it is recent."""
        assert self.service is not None
        page = await self.service.history(limit=5)
        return next((s for s in page.sessions if s.id == known.id and s.status.is_terminal), None)

    async def _finished(
        self, finished: Session, *, by_timer: bool, while_closed: bool = False
    ) -> None:
        """Announce a finished session, offer (or start) the next mode."""
        service = self.service
        assert service is not None
        upcoming = await service.suggest_next(finished)
        started = None
        if (
            not while_closed
            and self.session is None
            and auto_start(self.settings.timer, finished, upcoming)
        ):
            task, tags = self._draft if upcoming is Mode.FOCUS else ("", "")
            started = await service.start(upcoming, task=task or None, tags=parse_tags(tags))
            self.sleep_watch.reset(self.clock.now())
        self.mode = upcoming
        if self.session is None:
            self.show_session(started)
        title, body, good = end_message(
            finished,
            upcoming,
            service.zone,
            while_closed=while_closed,
            started=started is not None,
            start_key=self.key_for("start_pause", "space"),
            long_break_every=self.settings.timer.long_break_every,
        )
        self.notify(body, title=title, severity="information" if good else "warning", timeout=12)
        if by_timer and finished.status is Status.COMPLETED:
            self.alert(title, body.splitlines()[0])

    def alert(self, title: str, body: str) -> None:
        """Bell, desktop notification and sound, as configured; the toast is the caller's."""
        n = self.settings.notify
        if n.bell:
            self.app.bell()
        if n.desktop or n.sound_file:
            self.run_worker(
                partial(self._deliver, title, body),
                thread=True,
                group="alert",
                exit_on_error=False,
            )

    def _deliver(self, title: str, body: str) -> None:
        n = self.settings.notify
        if n.desktop:
            self._delivered("desktop", self.notifier.send(title, body))
        if n.sound_file:
            self._delivered("sound", self.notifier.play(n.sound_file, n.sound_player))

    def _delivered(self, kind: str, outcome: Outcome) -> None:
        if not outcome.ok:
            self.app.call_from_thread(self.say_once, kind, outcome)

    def say_once(self, kind: str, outcome: Outcome) -> None:
        key = kind if outcome.missing else f"{kind}:{outcome.detail}"
        if key in self._said:
            return
        self._said.add(key)
        title = "No desktop notifications" if kind == "desktop" else "No sound"
        self.notify(
            f"{outcome.detail[0].upper()}{outcome.detail[1:]}. "
            "Focus will ring the bell and show a toast instead.",
            title=title,
            severity="warning",
            timeout=10,
        )

    # -- actions -----------------------------------------------------------------------

    def _ready(self, action: str | None = None) -> bool:
        if self.service is None:
            self.notify("Still opening the database; try again in a moment.", title="Focus")
            return False
        if self._busy and action is not None:
            self._queued = action
        return not self._busy

    def action_start(self) -> None:
        self.action_start_pause()

    def action_pause(self) -> None:
        self.action_start_pause()

    def action_resume(self) -> None:
        self.action_start_pause()

    def action_start_pause(self) -> None:
        if not self._ready("start_pause"):
            return
        if self.session is None:
            self.start(self.mode)
        elif self.session.status is Status.ACTIVE:
            self.change("pause")
        else:
            self.change("resume")

    def _need_session(self, verb: str) -> Session | None:
        if not self._ready(verb):
            return None
        if self.session is None:
            self.notify(f"There is no open session to {verb}.", title="Not allowed")
        return self.session

    def action_complete(self) -> None:
        if self._need_session("complete"):
            self.complete()

    def action_extend(self) -> None:
        if self._need_session("extend"):
            self.change("extend")

    def action_abandon(self) -> None:
        session = self._need_session("abandon")
        if session is None:
            return

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.change("abandon", reason or None)

        self.app.push_screen(AbandonDialog(f"{session.mode.label} session"), answered)

    def action_next_mode(self) -> None:
        current = self.session.mode if self.session else self.mode
        self.pick_mode(next_mode(current))

    def action_edit_task(self) -> None:
        task = self.query_one("#task", Input)
        if not task.disabled:
            task.focus()

    def action_leave_input(self) -> None:
        self.set_focus(None)

    def pick_mode(self, mode: Mode) -> None:
        if self.session is None:
            self.mode = mode
            self.show_session(None)
        elif mode is not self.session.mode and self._ready():
            self.confirm_replace(self.session, mode)

    def confirm_replace(self, current: Session, mode: Mode) -> None:
        left = clock_text(timer.remaining(current, self.clock.now()))

        def answered(yes: bool | None) -> None:
            if yes:
                self.start(mode, force=True)
            else:
                self.show_session(self.session)

        question = (
            f"A {current.mode.label} session is {current.status.value} with {left} left.\n"
            f"Abandon it and start a {mode.label}?"
        )
        dialog = ConfirmDialog("Start a new session?", question, yes="Abandon and start")
        self.app.push_screen(dialog, answered)

    @on(Tabs.TabActivated, "#modes")
    def _tab_picked(self, event: Tabs.TabActivated) -> None:
        mode = Mode(str(event.tab.id).removeprefix("mode-"))
        shown = self.session.mode if self.session else self.mode
        if mode is not shown:
            self.pick_mode(mode)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.set_focus(None)
        if self.session is None:
            self.action_start_pause()

    @on(Input.Changed)
    def _typed(self) -> None:
        if self.session is None:
            self._draft = (
                self.query_one("#task", Input).value,
                self.query_one("#tags", Input).value,
            )
