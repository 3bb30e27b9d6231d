"""The timer screen's work against the database: the clock, the session flows, the endings.

Every database call runs in a worker of the `session` group, one at a time (`busy`), so the
clock keeps ticking while a locked database makes a write wait. The remaining time comes from
the clock at every tick (`timer.remaining`), never from counting ticks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.widgets import Input
from textual.worker import WorkerState

from app.config import Settings
from app.domain import timer
from app.domain.errors import RefusedError
from app.domain.models import Mode, Session, Status
from app.notify import Notifier, Outcome
from app.presenters import ceil_seconds, clock_text
from app.tui.alerts import Shortfalls, deliver
from app.tui.endings import auto_start, end_message
from app.tui.errors import report
from app.tui.screens.dialogs import ConfirmDialog, SleepDialog
from app.tui.screens.timer_view import TimerView
from app.tui.sleep import Gap, SleepWatch
from app.tui.text import MODE_TITLES, gap_text, local_time, parse_tags
from app.tui.widgets.summary import Summary

if TYPE_CHECKING:
    from app.clock import Clock
    from app.services import FocusService

EXTEND_MINUTES = 5
POLL = timedelta(seconds=15)
"""How often the open session is re-read, to pick up changes made by `focus` commands."""
RETRY = timedelta(seconds=5)
"""Wait before settling again after a failed attempt (a locked database, say)."""


class SessionFlows(TimerView):
    """Starts, changes and settles the open session in workers; announces how sessions end."""

    class Changed(Message):
        """The store changed (a flow wrote, or another process did): sync it soon."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SessionFlows.Changed)

    def __init__(
        self, settings: Settings, clock: Clock, service: FocusService, notifier: Notifier
    ) -> None:
        super().__init__(settings, clock, service.zone)
        self.notifier = notifier
        self.service = service
        self.sleep_watch = SleepWatch(settings.timer.tick_seconds)
        self.shortfalls = Shortfalls()
        self._busy = False
        self._pending_gap: Gap | None = None
        self._asking = False
        self._retry_at: datetime | None = None
        self._next_poll: datetime | None = None
        self._queued: Callable[[], object] | None = None
        """A key's action pressed while a background check ran, acted on after it."""

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
        if self._busy or self._asking or self._writing():
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

    def _writing(self) -> bool:
        """A session worker is started but not done: a check started now would cancel it
        (the group is exclusive) before it wrote, a change the user asked for lost."""
        return any(
            w.node is self
            and w.group == "session"
            and w.state in (WorkerState.PENDING, WorkerState.RUNNING)
            for w in self.app.workers
        )

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
                self.call_later(queued)

    def recheck(self) -> None:
        """Re-read the open session at the next tick (sync brought another device's)."""
        self._next_poll = self.clock.now()

    @work(exclusive=True, exit_on_error=False, group="session")
    async def sync(self, startup: bool = False, quiet: bool = False) -> None:
        """Settle against the clock and re-read the open session (changes from the CLI)."""
        service = self.service
        known = self.session
        with self.busy():
            try:
                finished = await service.settle()
                current = await service.status()
                if finished is None and known is not None and current is None:
                    finished = await self._find_finished(known)
                if startup or finished is not None:
                    # Said once, here or by a `focus` command, whichever comes first: what
                    # became of the last session since the user last looked (now told).
                    unseen = await service.last_ending_unseen()
                    if startup or (unseen and finished and unseen.id == finished.id):
                        finished = unseen
            except Exception as exc:
                self._retry_at = self.clock.now() + RETRY
                if not quiet:
                    report(self, exc, "Checking the session")
                return
            self._retry_at = None
            if current is None or known is None or current.version != known.version:
                self.show_session(current)
            if finished is not None or _differs(current, known):
                self.post_message(self.Changed())
            if finished is not None:
                await self._finished(finished, by_timer=not startup, while_closed=startup)
        if startup or finished is not None:
            self.refresh_summary()

    @work(exclusive=True, exit_on_error=False, group="session")
    async def start_session(self, mode: Mode, force: bool = False) -> None:
        service = self.service
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
            self.post_message(self.Changed())

    async def _write(
        self, doing: str, write: Callable[[FocusService], Awaitable[Session]]
    ) -> Session | None:
        """Run one change of the open session; the session after it, or None (said why)."""
        with self.busy():
            try:
                session = await write(self.service)
            except Exception as exc:
                report(self, exc, doing)
                self._next_poll = self.clock.now()
                return None
            self.post_message(self.Changed())
            return session

    @work(exclusive=True, exit_on_error=False, group="session")
    async def pause_session(self) -> None:
        if (session := await self._write("Pausing", lambda s: s.pause())) is not None:
            self.show_session(session)

    @work(exclusive=True, exit_on_error=False, group="session")
    async def resume_session(self) -> None:
        if (session := await self._write("Resuming", lambda s: s.resume())) is not None:
            self.sleep_watch.reset(self.clock.now())
            self.show_session(session)

    @work(exclusive=True, exit_on_error=False, group="session")
    async def extend_session(self) -> None:
        session = await self._write("Extending", lambda s: s.extend(EXTEND_MINUTES))
        if session is not None:
            self.show_session(session)

    @work(exclusive=True, exit_on_error=False, group="session")
    async def abandon_session(self, reason: str | None) -> None:
        if (session := await self._write("Abandoning", lambda s: s.abandon(reason))) is None:
            return
        self.show_session(None)
        self.notify(f"{MODE_TITLES[session.mode]} abandoned.", title="Abandoned")
        self.refresh_summary()

    @work(exclusive=True, exit_on_error=False, group="session")
    async def edit_session(self, task: str | None, tags: list[str] | None) -> None:
        """Save the open session's title and/or tags (None keeps one; "" and [] clear)."""
        session = await self._write("Saving the task", lambda s: s.edit(task, tags))
        if session is not None:
            self.show_session(session)
            self.notify(f"{MODE_TITLES[session.mode]} session: title and tags saved.", title="Task")

    @work(exclusive=True, exit_on_error=False, group="session")
    async def complete_session(self) -> None:
        service = self.service
        with self.busy():
            try:
                done = await service.complete()
                self.post_message(self.Changed())
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
        with self.busy():
            try:
                session = await service.record_sleep(gap.slept, gap.woke, policy)
            except RefusedError:
                self._next_poll = self.clock.now()
                return
            except Exception as exc:
                report(self, exc, "Recording the suspend")
                return
            self.post_message(self.Changed())
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
        try:
            stats = await self.service.stats(days=1)
        except Exception as exc:
            report(self, exc, "Loading today's totals")
            return
        summary = self.query_one(Summary)
        before = summary.stats
        summary.stats = stats
        if before is not None and stats.level.level > before.level.level:
            self.notify(f"You reached level {stats.level.level}.", title="Level up!", timeout=8)

    # -- end of session ----------------------------------------------------------------

    async def _find_finished(self, known: Session) -> Session | None:
        """The terminal state of a session that another process finished, if it is recent."""
        page = await self.service.history(limit=5)
        return next((s for s in page.sessions if s.id == known.id and s.status.is_terminal), None)

    async def _finished(
        self, finished: Session, *, by_timer: bool, while_closed: bool = False
    ) -> None:
        """Announce a finished session, offer (or start) the next mode."""
        service = self.service
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
            self.post_message(self.Changed())
        self.mode = upcoming
        if self.session is None:
            self.show_session(started)
        title, body, good = end_message(
            finished,
            upcoming,
            service.zone,
            self.clock.now(),
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
            self.deliver_alert(title, body)

    @work(thread=True, group="alert", exit_on_error=False)
    def deliver_alert(self, title: str, body: str) -> None:
        for kind, outcome in deliver(self.settings.notify, self.notifier, title, body):
            self.app.call_from_thread(self.say_once, kind, outcome)

    def say_once(self, kind: str, outcome: Outcome) -> None:
        if (first := self.shortfalls.first_report(kind, outcome)) is not None:
            title, message = first
            self.notify(message, title=title, severity="warning", timeout=10)

    def confirm_replace(self, current: Session, mode: Mode) -> None:
        left = clock_text(timer.remaining(current, self.clock.now()))

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_session(mode, force=True)
            else:
                self.show_session(self.session)

        question = (
            f"A {current.mode.label} session is {current.status.value} with {left} left.\n"
            f"Abandon it and start a {mode.label}?"
        )
        dialog = ConfirmDialog("Start a new session?", question, yes="Abandon and start")
        self.app.push_screen(dialog, answered)


def _differs(current: Session | None, known: Session | None) -> bool:
    """The open session is not the one shown (another process changed it)."""
    if current is None or known is None:
        return current is not known
    return current.id != known.id or current.version != known.version
