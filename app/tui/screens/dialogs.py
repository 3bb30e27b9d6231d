"""Small modal questions: confirm, abandon with a reason, and what a suspend should mean.

Each dialog has a footer of its own, listing its own keys: the screen below's footer would
list keys that do nothing while the question waits (a modal screen ends the binding chain).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label


class ConfirmDialog(ModalScreen[bool]):
    """A yes/no question; dismisses with True for yes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n", "answer(False)", "No"),
        # Its own action: the footer lists one key per action.
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, question: str, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__(classes="dialog")
        self.title_text, self.question, self.yes, self.no = title, question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = self.title_text
            yield Label(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="warning")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ReasonField(Input):
    """The reason field: its footer says that enter abandons (Input's own enter is hidden)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "screen.abandon", "Abandon")]


class AbandonDialog(ModalScreen[str | None]):
    """Asks for an optional reason; dismisses with the reason ('' for none) or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "keep", "Keep going")]

    def __init__(self, what: str) -> None:
        super().__init__(classes="dialog")
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = "Abandon session"
            yield Label(f"Abandon the {self.what}? It earns no reward.", classes="dialog-text")
            yield ReasonField(placeholder="Why? (optional, for your stats)", id="reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Keep going", id="keep")
                yield Button("Abandon", id="abandon", variant="error")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Button.Pressed, "#abandon")
    def action_abandon(self) -> None:
        self.dismiss(self.query_one("#reason", Input).value.strip())

    @on(Button.Pressed, "#keep")
    def action_keep(self) -> None:
        self.dismiss(None)


class SleepDialog(ModalScreen[str]):
    """Asks what a suspend meant; dismisses with the sleep policy to apply."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "choose('count')", "Count it"),
        Binding("p", "choose('pause')", "Pause it"),
        Binding("escape", "choose('pause')", "Pause it", show=False),
    ]

    def __init__(self, gap: str, what: str) -> None:
        super().__init__(classes="dialog")
        self.gap, self.what = gap, what

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = "Welcome back"
            yield Label(
                f"The machine slept for {self.gap} during your {self.what}.\n"
                "Count that time as focus, or pause the session from when it slept?",
                classes="dialog-text",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Count it", id="count")
                yield Button("Pause it", id="pause", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pause", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "pause")

    def action_choose(self, policy: str) -> None:
        self.dismiss(policy)
