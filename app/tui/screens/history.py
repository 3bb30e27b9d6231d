"""The history screen: sessions newest first, a keyset page at a time, filtered."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Label, Select

from app.domain.models import Mode, Status
from app.tui.errors import report
from app.tui.screens.reading import ReadingScreen
from app.tui.screens.session_details import SessionDetails
from app.tui.text import MODE_ORDER, MODE_TITLES
from app.tui.widgets.footer import KeysFooter
from app.tui.widgets.history_table import HistoryTable
from app.tui.widgets.sync_header import SyncHeader

if TYPE_CHECKING:
    from app.services import FocusService

PAGE_SIZE = 50
STATUS_OPTIONS = [(s.value.capitalize(), s) for s in Status]
MODE_OPTIONS = [(MODE_TITLES[m], m) for m in MODE_ORDER]
NO_SESSIONS = "No sessions yet: start one on the timer screen."


class HistoryScreen(ReadingScreen):
    """Loads `PAGE_SIZE` rows, then the next page whenever the table nears its end."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "filter", "Filter"),
    ]

    def __init__(self, service: FocusService) -> None:
        super().__init__(service)
        self.next_cursor: str | None = None
        self.exhausted = False
        self.fetching = False
        self.loaded = 0

    def compose(self) -> ComposeResult:
        yield SyncHeader()
        with Horizontal(id="filters"):
            yield Label("Status", classes="filter-label")
            yield Select[Status](STATUS_OPTIONS, prompt="any", id="status", compact=True)
            yield Label("Mode", classes="filter-label")
            yield Select[Mode](MODE_OPTIONS, prompt="any", id="mode", compact=True)
            yield Label("", id="count")
        yield HistoryTable(id="history")
        yield Label(NO_SESSIONS, id="empty")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = "History"
        self.query_one(HistoryTable).focus()
        self.action_reload()

    def filters(self) -> tuple[tuple[Status, ...], tuple[Mode, ...]]:
        status = self.query_one("#status", Select).value
        mode = self.query_one("#mode", Select).value
        return (
            (status,) if isinstance(status, Status) else (),
            (mode,) if isinstance(mode, Mode) else (),
        )

    def action_filter(self) -> None:
        """Jump to the filters (tab moves on to the mode filter, then back to the rows)."""
        self.query_one("#status", Select).focus()

    def action_reload(self) -> None:
        self.query_one(HistoryTable).clear()
        self.next_cursor, self.exhausted, self.loaded = None, False, 0
        self.load_page()

    @work(exclusive=True, exit_on_error=False, group="history")
    async def load_page(self) -> None:
        statuses, modes = self.filters()
        self.fetching = True
        try:
            page = await self.service.history(PAGE_SIZE, self.next_cursor, statuses, modes)
        except Exception as exc:
            report(self, exc, "Loading history")
            return
        finally:
            self.fetching = False
        self.next_cursor = page.next_cursor
        self.exhausted = page.next_cursor is None
        self.loaded += len(page.sessions)
        table = self.query_one(HistoryTable)
        table.add_sessions(page.sessions, self.service.zone, self.service.today().year)
        more = "" if self.exhausted else "+"
        noun = "session" if self.loaded == 1 else "sessions"
        self.query_one("#count", Label).update(f"{self.loaded}{more} {noun}")
        if self.loaded == 0:
            self.query_one("#empty", Label).update(
                "No sessions match these filters." if statuses or modes else NO_SESSIONS
            )
        self.set_class(self.loaded == 0, "-empty")

    @on(HistoryTable.NearEnd)
    def _near_end(self) -> None:
        if not (self.exhausted or self.fetching):
            self.load_page()

    @on(DataTable.RowSelected)
    def _open_details(self, event: DataTable.RowSelected) -> None:
        session = self.query_one(HistoryTable).sessions.get(str(event.row_key.value))
        if session is not None:
            self.app.push_screen(
                SessionDetails(session, self.service, self.service.zone, self.service.clock)
            )

    @on(Select.Changed)
    def _filtered(self) -> None:
        self.action_reload()
