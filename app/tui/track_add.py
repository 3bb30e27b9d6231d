"""The add-a-track dialog: a path typed with completion, or picked in a directory tree.

The path input completes from the file system as you type (`tab` or `right` accepts):
directories end in `/`, and audio-looking files and directories come before other files.
`Browse` (or ctrl+o) opens a tree of only directories and audio-looking files under the
home folder; choosing a file fills the input. The dialog adds the track itself: a bad
path is said in one line inside the dialog, which stays open, and nothing is recorded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, DirectoryTree, Input, Label

from app.textsafe import visible
from app.tui.errors import describe

if TYPE_CHECKING:
    from app.domain.tracks import Track

AUDIO_SUFFIXES = frozenset(
    {
        *(".mp3", ".ogg", ".oga", ".opus", ".flac", ".wav", ".wave", ".m4a", ".m4b", ".aac"),
        *(".aif", ".aiff", ".aifc", ".wma", ".wv", ".ape", ".mpc", ".spx", ".mka", ".webm"),
        *(".mp4", ".caf", ".dsf", ".tta", ".ac3"),
    }
)
"""Names that look like audio (the content is what `focus tracks add` checks)."""


def looks_like_audio(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in AUDIO_SUFFIXES


def complete_path(value: str) -> str | None:
    """`value` completed to the first matching entry of its folder, or None.

    The typed text is kept as typed (`~` stays `~`); a directory gets a trailing `/`.
    Directories and audio-looking files come first, then other files; hidden entries
    only when the typed name starts with a dot. Blocking: call it in a thread.
    """
    if not value:
        return None
    head, sep, tail = value.rpartition("/")
    folder = Path(os.path.expanduser(head + sep)) if sep else Path(".")
    if not tail and not sep:
        return None
    try:
        with os.scandir(folder) as entries:
            found = [
                (e.name, e.is_dir()) for e in entries if e.name.startswith(tail) and e.name != tail
            ]
    except OSError:
        found = []
    if not tail.startswith("."):  # hidden entries only when asked for
        found = [f for f in found if not f[0].startswith(".")]
    if not found:
        exact = folder / tail
        if tail and exact.is_dir() and not value.endswith("/"):
            return value + "/"
        return None

    def rank(entry: tuple[str, bool]) -> tuple[int, str]:
        name, is_dir = entry
        return (0 if is_dir or looks_like_audio(name) else 1, name.casefold())

    name, is_dir = min(found, key=rank)
    return head + sep + name + ("/" if is_dir else "")


class PathSuggester(Suggester):
    """Completes a path from the file system (see `complete_path`)."""

    def __init__(self) -> None:
        # Paths are case-sensitive, and the folder may change while the dialog is open.
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_path, value)


class PathInput(Input):
    """An input whose `tab` accepts the completion shown (else moves on, as usual)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "accept_or_next", "Complete", show=False),
    ]

    def action_accept_or_next(self) -> None:
        if self._suggestion and self.cursor_at_end and self._suggestion != self.value:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()


def audio_entries(paths: Iterable[Path]) -> list[Path]:
    """Directories and audio-looking files, hidden entries left out (blocking)."""
    kept = []
    for path in paths:
        if path.name.startswith("."):
            continue
        try:
            is_dir = path.is_dir()
        except OSError:
            continue
        if is_dir or looks_like_audio(path.name):
            kept.append(path)
    return kept


class AudioTree(DirectoryTree):
    """Directories and audio-looking files only (its loader runs in a thread)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return audio_entries(paths)


Adder = Callable[[Path], Awaitable["Track"]]


class AddTrackDialog(ModalScreen["Track | None"]):
    """Asks for an audio file and adds it through `adder`; dismisses with the new track,
    or None when cancelled. A refusal is shown in the dialog, which stays open."""

    DEFAULT_CSS = """
    AddTrackDialog .dialog-box { max-width: 80; }
    AddTrackDialog AudioTree { height: 10; margin: 0 0 1 0; }
    AddTrackDialog #add-error { color: $error; width: 100%; height: auto; margin: 0 0 1 0; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False),
        Binding("ctrl+o", "browse", "Browse", show=False),
    ]

    def __init__(self, library: str, adder: Adder, start: Path | None = None) -> None:
        super().__init__(classes="dialog")
        self.library = library
        self.adder = adder
        self.start = start or Path.home()

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = "Add a track"
            yield Label(
                visible(
                    f"An audio file to add to {self.library} (mp3, ogg, flac, wav...); "
                    "tab completes; Browse picks it from a tree:"
                ),
                classes="dialog-text",
                markup=False,
            )
            yield PathInput(placeholder="~/Music/rain.ogg", id="path", suggester=PathSuggester())
            yield Label("", id="add-error", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Browse", id="browse")
                yield Button("Cancel", id="cancel")
                yield Button("Add", id="add", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#add-error", Label).display = False
        self.query_one("#path", Input).focus()

    def say(self, message: str) -> None:
        error = self.query_one("#add-error", Label)
        error.update(visible(message))
        error.display = bool(message)

    @on(Button.Pressed, "#browse")
    def action_browse(self) -> None:
        """The tree, mounted on demand (its loader runs until the dialog closes)."""
        if self.query(AudioTree):
            self.query_one(AudioTree).focus()
            return
        tree = AudioTree(self.start, id="tree")
        self.query_one(".dialog-box").mount(tree, after="#path")
        tree.focus()

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        field = self.query_one("#path", Input)
        field.value = str(event.path)
        field.cursor_position = len(field.value)
        field.focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def _add(self) -> None:
        typed = self.query_one("#path", Input).value.strip()
        if not typed:
            self.say("Type the path of an audio file, or pick one with Browse.")
            return
        self.say("")
        self.add(Path(typed).expanduser())

    @work(exclusive=True, exit_on_error=False, group="add-track")
    async def add(self, path: Path) -> None:
        button = self.query_one("#add", Button)
        button.disabled = True
        try:
            track = await self.adder(path)
        except Exception as exc:
            self.say(describe(exc)[1])
            return
        finally:
            button.disabled = False
        self.dismiss(track)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
