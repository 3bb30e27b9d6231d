"""How the timer screen shows a session: the layout and the parts that change on events.

`TimerView` knows nothing of the database; `TimerScreen` (timer.py) adds the flows and keys
on top of it. Keeping the two apart keeps each module small enough to read in one go.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Input, Tab, Tabs

from app.config import Settings
from app.domain import timer
from app.domain.models import Mode, Session, Status
from app.presenters import ceil_seconds
from app.textsafe import visible
from app.tui.text import MODE_ORDER, MODE_TITLES, local_time
from app.tui.widgets.countdown import Countdown
from app.tui.widgets.footer import KeysFooter
from app.tui.widgets.layout import HEIGHT_BREAKPOINTS, WIDTH_BREAKPOINTS
from app.tui.widgets.summary import Summary
from app.tui.widgets.sync_header import SyncHeader

if TYPE_CHECKING:
    from app.clock import Clock


class TaskField(Input):
    """The task or tags field. Its footer says what enter and esc do (see `check_action`):
    start a session while idle, save the open session's title and tags while one runs."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "screen.submit_start", "Start"),
        Binding("enter", "screen.submit_save", "Save"),
        Binding("escape", "screen.leave_input", "Done"),
        Binding("escape", "screen.cancel_edit", "Cancel"),
    ]


class TimerView(Screen[None]):
    """The timer screen's widgets and how a session (or the idle mode) is shown in them."""

    AUTO_FOCUS = None
    # Size classes (-narrow, -wide, -short, -tall) that app.tcss lays the screen out by.
    HORIZONTAL_BREAKPOINTS = WIDTH_BREAKPOINTS
    VERTICAL_BREAKPOINTS = HEIGHT_BREAKPOINTS

    def __init__(self, settings: Settings, clock: Clock, zone: tzinfo | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.session: Session | None = None
        self.mode = Mode.FOCUS
        self.zone = zone
        """The user's zone (None while the database is opening: no start hint yet)."""
        self._draft = ("", "")
        """Task and tags typed while idle, restored when the session they were hidden by ends."""

    def compose(self) -> ComposeResult:
        yield SyncHeader()
        yield Tabs(*(Tab(MODE_TITLES[m], id=f"mode-{m.value}") for m in MODE_ORDER), id="modes")
        yield Countdown(id="countdown")
        with Horizontal(id="task-row"):
            yield TaskField(placeholder="What are you working on?", id="task", max_length=200)
            yield TaskField(placeholder="#tags", id="tags")
        yield Summary(id="summary")
        yield KeysFooter()

    @property
    def countdown(self) -> Countdown:
        return self.query_one(Countdown)

    def key_for(self, binding_id: str, default: str) -> str:
        """The first key bound to `binding_id`, after any `[keys]` remap."""
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
        tabs, wanted = self.query_one(Tabs), f"mode-{mode.value}"
        if tabs.active != wanted:
            # Shown from code: the tab handler is for the user's picks only (a code-set tab
            # re-entering it flipped the mode back and forth for ever).
            with self.prevent(Tabs.TabActivated):
                tabs.active = wanted
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
            if self.zone is not None:
                countdown.caption = f"Ready · {self.key_for('start_pause', 'space')} to start"
            countdown.border_subtitle = ""
            if was_open:
                self.fill_fields(*self._draft)
        else:
            if not was_open:
                self._draft = (task.value, tags.value)
            if self.focused not in (task, tags):  # never under the user's typing
                self.fill_fields(*self.session_fields(session))
            countdown.total = int(session.target.total_seconds())
            countdown.remaining = ceil_seconds(timer.remaining(session, self.clock.now()))
            countdown.caption = self.caption(session)
            # Content, not a str: a border title string would be parsed as markup.
            countdown.border_subtitle = Content(visible((session.task_title or "")[:40]))
        self.refresh_bindings()

    def session_fields(self, session: Session) -> tuple[str, str]:
        """The open session's title and tags as the fields show them (escaped)."""
        return visible(session.task_title or ""), visible(" ".join(f"#{t}" for t in session.tags))

    def fill_fields(self, task: str, tags: str) -> None:
        with self.prevent(Input.Changed):
            self.query_one("#task", Input).value = task
            self.query_one("#tags", Input).value = tags

    def caption(self, session: Session) -> str:
        extra = f" · +{int(session.extended.total_seconds()) // 60}m" if session.extended else ""
        if session.status is Status.PAUSED:
            key = self.key_for("start_pause", "space")
            return f"Paused · {key} to resume{extra}"
        ends = local_time(session.ends_at, self.zone) if self.zone else "--:--"
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
        if action == "submit_start":
            return status is None
        if action in ("submit_save", "cancel_edit"):
            return status is not None
        if action == "leave_input":
            # The fields' esc: keeps an idle draft; with a session open it cancels instead.
            return status is None or self.focused is None or not isinstance(self.focused, Input)
        return True
