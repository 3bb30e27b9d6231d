"""The timer screen: its keys and what they do (the flows are in timer_flows.py).

Every key has a binding id, so a `[keys]` table in the config can move it; the command
palette lists the same actions. `OpeningScreen` stands in, looking the same, while the
database opens (and says why it cannot, if it cannot); the app then switches to a
`TimerScreen` built over the open service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import Input, Tabs

from app.domain.models import Mode, Session, Status
from app.textsafe import visible
from app.tui.screens.dialogs import AbandonDialog
from app.tui.screens.timer_flows import EXTEND_MINUTES, SessionFlows
from app.tui.screens.timer_view import TimerView
from app.tui.text import next_mode, parse_tags

OPENING = "Opening the database…"


class TimerScreen(SessionFlows):
    """The main screen, over the open service."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # One id for the three: a `[keys]` remap moves them together; the footer shows the
        # one that applies (see `check_action`).
        Binding("space", "start", "Start", id="start_pause"),
        Binding("space", "pause", "Pause", id="start_pause"),
        Binding("space", "resume", "Resume", id="start_pause"),
        Binding("c", "complete", "Done", id="complete"),
        Binding("x", "abandon", "Abandon", id="abandon"),
        Binding("e", "extend", f"+{EXTEND_MINUTES}m", id="extend"),
        # Run when the one above is disabled (shown dimmed: no open session): a key that
        # does nothing says why.
        Binding("c", "no_session('complete')", "Done", id="complete", show=False),
        Binding("x", "no_session('abandon')", "Abandon", id="abandon", show=False),
        Binding("e", "no_session('extend')", "Extend", id="extend", show=False),
        Binding("m", "next_mode", "Mode", id="next_mode"),
        Binding("t", "edit_task", "Task", id="edit_task", show=False),
        Binding("escape", "leave_input", "Done", show=False),
    ]

    def on_mount(self) -> None:
        self.sub_title = "Timer"
        self.show_session(None)
        self.set_interval(self.settings.timer.tick_seconds, self.tick)
        self.sync(startup=True)

    # -- actions -----------------------------------------------------------------------

    def _ready(self, then: Callable[[], object] | None = None) -> bool:
        """Free to write now; else `then` runs once the background check ends."""
        if self._busy and then is not None:
            self._queued = then
        return not self._busy

    def action_start(self) -> None:
        self.action_start_pause()

    def action_pause(self) -> None:
        self.action_start_pause()

    def action_resume(self) -> None:
        self.action_start_pause()

    def action_start_pause(self) -> None:
        if not self._ready(self.action_start_pause):
            return
        if self.session is None:
            self.start_session(self.mode)
        elif self.session.status is Status.ACTIVE:
            self.pause_session()
        else:
            self.resume_session()

    def _need_session(self, verb: str, then: Callable[[], object]) -> Session | None:
        if not self._ready(then):
            return None
        if self.session is None:
            self.notify(f"There is no open session to {verb}.", title="Not allowed")
        return self.session

    def action_no_session(self, verb: str) -> None:
        self.notify(f"There is no open session to {verb}.", title="Not allowed")

    def action_complete(self) -> None:
        if self._need_session("complete", self.action_complete):
            self.complete_session()

    def action_extend(self) -> None:
        if self._need_session("extend", self.action_extend):
            self.extend_session()

    def action_abandon(self) -> None:
        session = self._need_session("abandon", self.action_abandon)
        if session is None:
            return

        def answered(reason: str | None) -> None:
            if reason is not None:
                self.abandon_session(reason or None)

        self.app.push_screen(AbandonDialog(f"{session.mode.label} session"), answered)

    def action_next_mode(self) -> None:
        current = self.session.mode if self.session else self.mode
        self.pick_mode(next_mode(current))

    def action_edit_task(self) -> None:
        self.query_one("#task", Input).focus()
        if self.session is not None:
            self.notify(
                f"Editing the {self.session.mode.label} session's title and tags: "
                "enter saves, esc cancels.",
                title="Task",
                timeout=4,
            )

    def action_leave_input(self) -> None:
        self.set_focus(None)

    # -- the task and tags fields (enter and esc, see TaskField) -------------------------

    def action_submit_start(self) -> None:
        self.set_focus(None)
        self.action_start_pause()

    def action_submit_save(self) -> None:
        session = self.session
        if session is None:
            return
        typed = (self.query_one("#task", Input).value, self.query_one("#tags", Input).value)
        shown_task, shown_tags = self.session_fields(session)
        self.set_focus(None)
        # Only what was typed over: an escaped hostile title shown as is is never saved.
        task = typed[0].strip() if typed[0] != shown_task else None
        tags = parse_tags(typed[1]) if typed[1] != shown_tags else None
        if task is None and tags is None:
            self.notify("Nothing to save: the title and tags are as they were.", title="Task")
            return
        if self._ready(lambda: self.edit_session(task, tags)):
            self.edit_session(task, tags)

    def action_cancel_edit(self) -> None:
        session = self.session
        self.set_focus(None)
        if session is None:
            return
        typed = (self.query_one("#task", Input).value, self.query_one("#tags", Input).value)
        if typed != self.session_fields(session):
            self.fill_fields(*self.session_fields(session))
            self.notify("Not saved: the title and tags are back as they were.", title="Task")

    # -- modes -------------------------------------------------------------------------

    def pick_mode(self, mode: Mode) -> None:
        if self.session is None:
            self.mode = mode
            self.show_session(None)
        elif mode is not self.session.mode and self._ready(lambda: self.pick_mode(mode)):
            self.confirm_replace(self.session, mode)

    @on(Tabs.TabActivated, "#modes")
    def _tab_picked(self, event: Tabs.TabActivated) -> None:
        # Only the user's picks arrive here: `show_session` sets the tab with this
        # message prevented.
        mode = Mode(str(event.tab.id).removeprefix("mode-"))
        shown = self.session.mode if self.session else self.mode
        if mode is not shown:
            self.pick_mode(mode)

    @on(Input.Changed)
    def _typed(self) -> None:
        if self.session is None:
            self._draft = (
                self.query_one("#task", Input).value,
                self.query_one("#tags", Input).value,
            )


class OpeningScreen(TimerView):
    """The timer's look while the database opens; a key that needs it says why it waits."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "wait", "Start", id="start_pause"),
        Binding("c", "wait", "Done", id="complete", show=False),
        Binding("x", "wait", "Abandon", id="abandon", show=False),
        Binding("e", "wait", f"+{EXTEND_MINUTES}m", id="extend", show=False),
        Binding("m", "wait", "Mode", id="next_mode", show=False),
        Binding("t", "wait", "Task", id="edit_task", show=False),
    ]

    failure: str | None = None
    """Why the database could not be opened (not retried: fix it and restart)."""

    def on_mount(self) -> None:
        self.sub_title = "Timer"
        self.show_session(None)
        for field in self.query(Input):
            field.disabled = True
        self.countdown.caption = self.failure or OPENING

    def unavailable(self, message: str) -> None:
        self.failure = message
        if self.is_mounted:
            self.countdown.caption = message

    def action_wait(self) -> None:
        self.no_store()

    def no_store(self) -> None:
        """Say why a key that needs the database cannot act: still opening, or failed."""
        if self.failure is None:
            self.notify("Still opening the database; try again in a moment.", title="Focus")
        else:
            self.notify(visible(self.failure), title="Focus", severity="error", markup=False)
