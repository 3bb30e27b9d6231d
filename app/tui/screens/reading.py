"""The base of the screens that only read (history, stats): Back and Reload keys, the service."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen

from app.tui.widgets.layout import HEIGHT_BREAKPOINTS, WIDTH_BREAKPOINTS

if TYPE_CHECKING:
    from app.services import FocusService


class ReadingScreen(Screen[None]):
    """Pushed over the timer screen; `escape` goes back to it, `r` reads the data again."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("r", "reload", "Reload", id="reload"),
    ]

    # Size classes (-narrow, -wide, -short, -tall) that app.tcss lays the screen out by.
    HORIZONTAL_BREAKPOINTS = WIDTH_BREAKPOINTS
    VERTICAL_BREAKPOINTS = HEIGHT_BREAKPOINTS

    def __init__(self, service: FocusService) -> None:
        super().__init__()
        self.service = service

    def action_reload(self) -> None:
        raise NotImplementedError
