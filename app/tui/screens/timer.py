"""The timer screen: its keys and what they do (the flows are in timer_flows.py).

Every key has a binding id, so a `[keys]` table in the config can move it; the command
palette lists the same actions.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import Input, Tabs

from app.domain.models import Mode, Session, Status
from app.tui.screens.dialogs import AbandonDialog
from app.tui.screens.timer_flows import EXTEND_MINUTES, SessionFlows
from app.tui.text import next_mode


class TimerScreen(SessionFlows):
    """The main screen; the app hands it the service once the database is open."""

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

    def on_mount(self) -> None:
        self.sub_title = "Timer"
        self.show_session(None)
        self.countdown.caption = "Opening the database…"
        self.set_interval(self.settings.timer.tick_seconds, self.tick)
        if self.service is not None:
            self._connected()

    # -- actions -----------------------------------------------------------------------

    def _ready(self, action: str | None = None) -> bool:
        if self.service is None:
            self.no_store()
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
