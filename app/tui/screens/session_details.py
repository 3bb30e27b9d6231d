"""One session in full, opened with `enter` on a history row: every instant, pauses, slept
time, extensions, the abandon reason and the reward.

The store keeps a session's pause count and total, not each pause's own start and end, so
pauses are shown as a count and a total (and the instant of a pause still running).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from app.domain import timer
from app.domain.models import Session, Status
from app.presenters import clock_text
from app.textsafe import visible
from app.tui.errors import report
from app.tui.text import MODE_TITLES, gap_text
from app.tui.widgets.layout import HEIGHT_BREAKPOINTS, WIDTH_BREAKPOINTS
from app.tui.widgets.summary import plural

if TYPE_CHECKING:
    from app.clock import Clock
    from app.services import FocusService

ENDED_AT = {
    Status.COMPLETED: "Completed",
    Status.ABANDONED: "Abandoned",
    Status.EXPIRED: "Expired",
}


def stamp(instant: datetime | None, zone: tzinfo) -> str:
    """`Wed 15 Apr 2026 09:00:00`, in the user's zone."""
    if instant is None:
        return "-"
    return instant.astimezone(zone).strftime("%a %d %b %Y %H:%M:%S")


def span(delta: timedelta) -> str:
    """`0s`, `42s`, `12m`, `1h 05m`; with seconds under an hour when they are not round."""
    seconds = int(delta.total_seconds())
    if 60 <= seconds < 3600 and seconds % 60:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return gap_text(delta)


def detail_rows(s: Session, zone: tzinfo, now: datetime) -> list[tuple[str, Text | str]]:
    """The details as (label, value) rows, in the order a session happens."""
    rows: list[tuple[str, Text | str]] = [
        ("Mode", MODE_TITLES[s.mode]),
        ("Task", Text(visible(s.task_title)) if s.task_title else Text("none", style="dim")),
        (
            "Tags",
            Text(" ".join(f"#{visible(t)}" for t in s.tags))
            if s.tags
            else Text("none", style="dim"),
        ),
        ("Status", s.status.value),
        ("Started", stamp(s.started_at, zone)),
        ("Planned", span(s.planned)),
    ]
    if s.extended:
        rows.append(("Extended", f"+{span(s.extended)} (asks for {span(s.target)} in all)"))
    else:
        rows.append(("Extended", Text("never", style="dim")))
    if s.pause_count:
        paused = f"{plural(s.pause_count, 'time')}, {span(s.paused_total)} in all"
    else:
        paused = "never"
    rows.append(("Paused", paused if s.pause_count else Text(paused, style="dim")))
    if s.status is Status.PAUSED and s.paused_at is not None:
        left = s.paused_remaining if s.paused_remaining is not None else timer.remaining(s, now)
        rows.append(("Paused since", f"{stamp(s.paused_at, zone)} ({clock_text(left)} left)"))
    rows.append(("Slept", span(s.slept) if s.slept else Text("no", style="dim")))
    if s.status in (Status.ACTIVE, Status.PAUSED):
        rows.append(("Ends at", stamp(s.ends_at, zone) if s.ends_at else "when resumed"))
        rows.append(("Focused so far", span(timer.focused(s, now))))
    else:
        ended = {
            Status.COMPLETED: s.completed_at,
            Status.ABANDONED: s.abandoned_at,
            Status.EXPIRED: s.expired_at,
        }[s.status]
        rows.append((ENDED_AT[s.status], stamp(ended, zone)))
        rows.append(("Focused", span(s.focused)))
    if s.status is Status.ABANDONED:
        reason = Text(visible(s.abandon_reason)) if s.abandon_reason else None
        rows.append(("Reason", reason or Text("none given", style="dim")))
    if s.xp_awarded or s.coins_awarded:
        rows.append(("Reward", f"+{s.xp_awarded} xp, +{plural(s.coins_awarded, 'coin')}"))
    else:
        rows.append(("Reward", Text("none", style="dim")))
    if s.updated_at is not None:
        rows.append(("Last changed", f"{stamp(s.updated_at, zone)} (version {s.version})"))
    return rows


def details_table(rows: list[tuple[str, Text | str]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0), expand=True)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", ratio=1, overflow="fold")
    for label, value in rows:
        table.add_row(label, value)
    return table


class SessionDetails(ModalScreen[None]):
    """Over the history: the session as it was in the row, then as stored now."""

    HORIZONTAL_BREAKPOINTS = WIDTH_BREAKPOINTS
    VERTICAL_BREAKPOINTS = HEIGHT_BREAKPOINTS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "close", "Close"),
        Binding("r", "reload", "Reload", id="reload"),
    ]

    def __init__(self, session: Session, service: FocusService, zone: tzinfo, clock: Clock) -> None:
        super().__init__(classes="dialog")
        self.session = session
        self.service = service
        self.zone = zone
        self.clock = clock

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="details-box", classes="dialog-box"):
            yield Static(id="details")
        yield Footer()

    def on_mount(self) -> None:
        box = self.query_one("#details-box")
        box.border_title = f"{MODE_TITLES[self.session.mode]} session"
        box.border_subtitle = "esc closes"
        box.focus()
        self.show(self.session)
        self.action_reload()

    def show(self, session: Session) -> None:
        self.session = session
        rows = detail_rows(session, self.zone, self.clock.now())
        self.query_one("#details", Static).update(details_table(rows))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self.load(self.session.id)

    @work(exclusive=True, exit_on_error=False, group="details")
    async def load(self, session_id: uuid.UUID) -> None:
        try:
            fresh = await self.service.session(session_id)
        except Exception as exc:
            report(self, exc, "Loading the session")
            return
        if fresh is not None:
            self.show(fresh)
