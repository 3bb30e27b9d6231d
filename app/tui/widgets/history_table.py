"""The history table: one row per session, asking for the next page near its end."""

from __future__ import annotations

from datetime import tzinfo
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from app.domain.models import Mode, Session, Status
from app.textsafe import visible
from app.tui.text import local_stamp

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("when", "When", 12),
    ("mode", "Mode", 5),
    ("task", "Task", 15),
    ("tags", "Tags", 9),
    ("status", "Status", 9),
    ("focused", "Min", 4),
    ("xp", "XP", 3),
    ("coins", "Coins", 5),
)
MODE_SHORT = {Mode.FOCUS: "focus", Mode.SHORT_BREAK: "short", Mode.LONG_BREAK: "long"}
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


def _fit(text: str, width: int) -> Text:
    """User text in a cell: controls escaped, never parsed as markup, cut to `width`."""
    text = visible(text)
    return Text(text if len(text) <= width else text[: width - 1] + "…")


class HistoryTable(DataTable[str | Text]):
    """Rows are added a page at a time by the screen; `NearEnd` asks for the next one."""

    # Every column fits, so DataTable's own home/end (first/last column) would do nothing.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First row", show=False),
        Binding("end", "scroll_bottom", "Last row", show=False),
    ]

    class NearEnd(Message):
        """The view or the cursor came close to the last loaded row."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, HistoryTable.NearEnd)

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    def add_sessions(self, sessions: list[Session], zone: tzinfo, this_year: int) -> None:
        for s in sessions:
            self.add_row(*self._cells(s, zone, this_year), key=str(s.id))
        self.call_after_refresh(self._check_end)

    def _cells(self, s: Session, zone: tzinfo, this_year: int) -> list[str | Text]:
        color = self.app.theme_variables.get(STATUS_COLOR[s.status], "") or "dim"
        return [
            local_stamp(s.started_at, zone, this_year),
            MODE_SHORT[s.mode],
            _fit(s.task_title or "-", 15),
            _fit(" ".join(f"#{t}" for t in s.tags), 9),
            Text(s.status.value, style=color),
            Text(str(int(s.focused.total_seconds()) // 60), justify="right"),
            Text(str(s.xp_awarded), justify="right"),
            Text(str(s.coins_awarded), justify="right"),
        ]

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
