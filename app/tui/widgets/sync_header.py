"""Textual's header with the app's sync line on its right (pending, last sync, online).

The app keeps the line (`SyncingApp.sync_badge`); every screen's header shows it. With no
`[sync]` the line stays empty and hidden: the header is Textual's own.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Header, Static

STATES = ("syncing", "online", "offline", "error")


class SyncBadge(Static):
    """The sync line; its class (`-online`, `-offline`, ...) colours it."""


class SyncHeader(Header):
    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield SyncBadge(id="sync-badge")

    def on_mount(self) -> None:
        if hasattr(self.app, "sync_badge"):
            self.watch(self.app, "sync_badge", self._show, init=True)

    def _show(self, badge: tuple[str, str]) -> None:
        text, state = badge
        widget = self.query_one(SyncBadge)
        widget.update(Content(text))
        widget.display = bool(text)
        for name in STATES:
            widget.set_class(state == name, f"-{name}")
