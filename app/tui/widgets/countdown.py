"""The large remaining-time display, its caption and the session's progress bar."""

from __future__ import annotations

from datetime import timedelta

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Digits, Label, ProgressBar

from app.presenters import clock_text


def _clock(seconds: int) -> str:
    return clock_text(timedelta(seconds=seconds))


class Countdown(Vertical):
    """Shows `remaining` of `total` seconds.

    The screen sets the attributes; each watcher repaints only its own part, and a
    reactive only fires when its value changes, so a tick that does not change the
    displayed second costs nothing.
    """

    remaining: reactive[int] = reactive(0, init=False)
    """Whole seconds left, as displayed (rounded up)."""
    total: reactive[int] = reactive(0, init=False)
    """The session's whole length in seconds (planned plus extensions)."""
    caption: reactive[str] = reactive("", init=False)
    """One line under the digits: state and end time."""

    def compose(self) -> ComposeResult:
        yield Digits("--:--", id="clock")
        yield Label("", id="caption")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="progress")
            yield Label("", id="elapsed")

    def on_mount(self) -> None:
        self.watch_remaining()
        self.watch_caption(self.caption)

    def watch_remaining(self) -> None:
        self.query_one("#clock", Digits).update(_clock(self.remaining))
        self._show_progress()

    def watch_total(self) -> None:
        self._show_progress()

    def watch_caption(self, caption: str) -> None:
        self.query_one("#caption", Label).update(caption)

    def _show_progress(self) -> None:
        total = max(1, self.total)
        done = min(total, max(0, self.total - self.remaining)) if self.total else 0
        self.query_one("#progress", ProgressBar).update(total=total, progress=done)
        label = f"{_clock(done)} / {_clock(self.total)}" if self.total else ""
        self.query_one("#elapsed", Label).update(label)
