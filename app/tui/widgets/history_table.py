"""The history table: one row per session, asking for the next page near its end.

The Task column takes whatever width the others leave, so a wide terminal shows whole
titles and a 60-column one still shows every number; a cell holds the whole text and the
table cuts it, with an ellipsis, to the column.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from app.domain.models import Mode, Session, Status
from app.textsafe import visible
from app.tui.text import MODE_TITLES, local_stamp

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("when", "When", 12),
    ("task", "Task", 0),
    ("status", "Status", 9),
    ("focused", "Min", 3),
    ("xp", "XP", 3),
    ("coins", "Coins", 5),
)
"""Key, header and width; the task column's width (0 here) is what the others leave."""
MIN_TASK = 10
"""The Task column never gets narrower than this (the table scrolls sideways then)."""
STATUS_COLOR = {
    Status.ACTIVE: "accent",
    Status.PAUSED: "warning",
    Status.COMPLETED: "success",
    Status.ABANDONED: "error",
    Status.EXPIRED: "",
}
"""Theme colour of each status; expired is dimmed."""
NEAR_END = 8
"""Ask for the next page when fewer rows than this are left below the view."""


def task_cell(s: Session, reason_style: str = "") -> Text:
    """What the session was: its title (a break says so), why it was abandoned, and its tags
    dimmed. User text is escaped and never parsed as markup."""
    text = Text(no_wrap=True, overflow="ellipsis")
    title = visible(s.task_title or "")
    if s.mode is Mode.FOCUS and title:
        text.append(title)
    elif s.mode is Mode.FOCUS:
        text.append("Focus", "dim italic")
    else:
        text.append(MODE_TITLES[s.mode], "dim italic")
        if title:
            text.append(" · " + title)
    if s.status is Status.ABANDONED and s.abandon_reason:
        text.append("  — " + visible(s.abandon_reason), reason_style or "italic")
    if s.tags:
        text.append("  " + " ".join(f"#{visible(t)}" for t in s.tags), "dim")
    return text


class HistoryTable(DataTable[str | Text]):
    """Rows are added a page at a time by the screen; `NearEnd` asks for the next one.

    `enter` on a row posts DataTable's `RowSelected`; the screen opens the session's details.
    """

    # Every column fits, so DataTable's own home/end (first/last column) would do nothing.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Details"),
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    class NearEnd(Message):
        """The view or the cursor came close to the last loaded row."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, HistoryTable.NearEnd)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.sessions: dict[str, Session] = {}
        """The loaded sessions by row key."""

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width or MIN_TASK)
        self.fit_columns()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_cursor" and not self.row_count:
            return None  # no row: the footer shows Details greyed out
        return super().check_action(action, parameters)

    def clear(self, columns: bool = False) -> HistoryTable:
        self.sessions.clear()
        super().clear(columns)
        return self

    def on_resize(self) -> None:
        self.fit_columns()

    def task_width(self) -> int:
        """Columns left for the task once the others and every cell's padding are placed."""
        room = self.scrollable_content_region.width
        fixed = sum(width for _, _, width in COLUMNS) + 2 * self.cell_padding * len(COLUMNS)
        return max(MIN_TASK, room - fixed)

    def fit_columns(self) -> None:
        """Give the Task column the width the others leave (on mount and every resize)."""
        column = self.columns.get(ColumnKey("task"))
        width = self.task_width()
        if column is None or column.width == width:
            return
        column.width = width
        # DataTable keeps rendered cells by width: drop them and measure again.
        self._clear_caches()
        self._require_update_dimensions = True
        self.refresh()

    def add_sessions(self, sessions: list[Session], zone: tzinfo, this_year: int) -> None:
        for s in sessions:
            self.sessions[str(s.id)] = s
            self.add_row(*self._cells(s, zone, this_year), key=str(s.id))
        self.refresh_bindings()
        self.call_after_refresh(self._check_end)

    def _cells(self, s: Session, zone: tzinfo, this_year: int) -> list[str | Text]:
        color = self.app.theme_variables.get(STATUS_COLOR[s.status], "") or "dim"
        error = self.app.theme_variables.get("error", "")
        return [
            local_stamp(s.started_at, zone, this_year),
            task_cell(s, f"italic {error}".strip()),
            Text(s.status.value, style=color),
            Text(str(int(s.focused.total_seconds()) // 60), justify="right"),
            Text(str(s.xp_awarded), justify="right"),
            Text(str(s.coins_awarded), justify="right"),
        ]

    def highlighted_session(self) -> Session | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.sessions.get(str(key))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._check_end()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= self.row_count - NEAR_END:
            self.post_message(self.NearEnd())

    def _check_end(self) -> None:
        below = self.virtual_size.height - (self.scroll_y + self.scrollable_content_region.height)
        if self.row_count and below < NEAR_END:
            self.post_message(self.NearEnd())
