"""Focus music in the app: the tracks screen (`l`) and the player that follows the timer.

The screen lists the libraries (favourites first) and the highlighted library's tracks;
`enter` chooses the focus track, kept device-locally in the store's `meta` table (it is
never synced: another device may not hold the file). `MusicApp` plays the chosen track,
looping, while a focus session is active, pauses it with the session and stops it
otherwise; a missing player or a player failure is said once and never stops the timer.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Label

from app.domain.tracks import Library, Track
from app.player import Playback, Player, find_player
from app.textsafe import visible
from app.tui.errors import describe, report
from app.tui.screens.dialogs import ConfirmDialog
from app.tui.widgets.sync_header import SyncHeader

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.clock import Clock
    from app.config import Settings
    from app.services import FocusService
    from app.services.tracks import TracksService
    from app.tui.screens.timer import TimerScreen
    from storage.sql import SqlRepository

META_KEY = "focus_track"
NO_PLAYER = "No audio player found: install mpv or ffplay"
FOLLOW_SECONDS = 1.0
"""How often (real seconds) the player is brought in step with the timer, besides changes."""


# -- the chosen track, kept in this device's store ----------------------------------------


async def read_focus_track(repo: SqlRepository) -> uuid.UUID | None:
    rows = await repo.conn.fetch("SELECT value FROM meta WHERE key = :key", {"key": META_KEY})
    if not rows or not rows[0][0]:
        return None
    try:
        return uuid.UUID(str(rows[0][0]))
    except ValueError:
        return None


async def write_focus_track(repo: SqlRepository, track: uuid.UUID | None) -> None:
    from storage.outbox import set_meta

    async with repo.transaction(local=False) as tx:
        await set_meta(tx.conn, META_KEY, str(track) if track else "")
        await tx.commit()


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 60}:{seconds % 60:02d}"


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 2**20:
        return f"{size / 2**10:.0f} KB"
    return f"{size / 2**20:.1f} MB"


def library_order(libraries: list[Library]) -> list[Library]:
    """Favourites first, then by name regardless of case."""
    return sorted(libraries, key=lambda lib: (not lib.is_favorite, lib.name.casefold()))


# -- the app's side -----------------------------------------------------------------------


class MusicApp(App[None]):
    """Holds the chosen track and the one player; follows the timer screen's session."""

    settings: Settings
    clock: Clock
    container: Container | None
    service: FocusService | None
    timer_screen: TimerScreen

    focus_track: Track | None = None
    playback: Playback | None = None
    _music_said: str | None = None
    _no_player_said = False

    def tracks_service(self) -> TracksService | None:
        from app.services.tracks import TracksService

        if self.container is not None:
            return TracksService(self.container.repo, self.clock)
        if self.service is not None:
            return TracksService(cast("SqlRepository", self.service.repo), self.clock)
        return None

    def start_music(self) -> None:
        """On mount: the player (found once), and the check every second."""
        self.playback = Playback(Player(find_player(self.settings.tracks.player)))
        self.set_interval(FOLLOW_SECONDS, self.follow_timer, name="music")

    @work(exclusive=True, group="music-load", exit_on_error=False)
    async def load_focus_track(self) -> None:
        """The store is open: read which track was chosen on this device."""
        tracks = self.tracks_service()
        if tracks is None:
            return
        try:
            chosen = await read_focus_track(tracks.repo)
            found = [t for t in await tracks.tracks() if t.id == chosen] if chosen else []
        except Exception as exc:
            report(self, exc, "Reading the focus track")
            return
        self.focus_track = found[0] if found else None
        self.follow_timer()

    async def choose_track(self, track: Track | None) -> None:
        """Record `track` as this device's focus track (None: no music)."""
        tracks = self.tracks_service()
        if tracks is None:
            return
        await write_focus_track(tracks.repo, track.id if track else None)
        self.focus_track = track
        self._music_said = None
        self.follow_timer()

    def follow_timer(self) -> None:
        """Bring the player in step with the open session; never raises."""
        playback = self.playback
        if playback is None:
            return
        session = self.timer_screen.session
        status = session.status.value if session else None
        mode = session.mode.value if session else None
        track = self.focus_track
        path = Path(track.local_path) if track is not None and track.local_path else None
        if not playback.player.available:
            wanted = path is not None and status == "active" and mode == "focus"
            if wanted and not self._no_player_said:
                self._no_player_said = True
                self.notify(NO_PLAYER + ".", title="Music", severity="warning", timeout=8)
            return
        try:
            playback.follow(status, mode, path)
        except Exception as exc:
            title, message = describe(exc)
            if message != self._music_said:
                self._music_said = message
                self.notify(
                    visible(message),
                    title=visible(f"Music · {title}"),
                    severity="warning",
                    timeout=8,
                    markup=False,
                )

    def note_change(self) -> None:
        """The store changed (sync it soon): `SyncingApp` does it, before this in the MRO."""

    def stop_music(self) -> None:
        if self.playback is not None:
            self.playback.player.close()


# -- the screen -----------------------------------------------------------------------------


class AddTrackDialog(ModalScreen[str | None]):
    """Asks for an audio file's path; dismisses with it, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, library: str) -> None:
        super().__init__(classes="dialog")
        self.library = library

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box") as box:
            box.border_title = "Add a track"
            yield Label(
                visible(f"An audio file to add to {self.library} (mp3, ogg, flac, wav...):"),
                classes="dialog-text",
                markup=False,
            )
            yield Input(placeholder="~/Music/rain.ogg", id="path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Add", id="add", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#add")
    def _add(self) -> None:
        self.dismiss(self.query_one("#path", Input).value.strip() or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class TracksScreen(Screen[None]):
    """Libraries on the left, the highlighted one's tracks on the right."""

    DEFAULT_CSS = """
    TracksScreen #panes { height: 1fr; }
    TracksScreen #libraries { width: 40%; height: 1fr; }
    TracksScreen #tracks { width: 1fr; height: 1fr; }
    TracksScreen #track-count { height: 1; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("r", "reload", "Reload", id="reload"),
        Binding("enter", "choose", "Choose"),
        Binding("f", "favorite", "Favourite"),
        Binding("delete,x", "remove", "Remove"),
        Binding("a", "add", "Add"),
    ]

    def __init__(self, tracks: TracksService, max_bytes: int) -> None:
        super().__init__()
        self.tracks = tracks
        self.max_bytes = max_bytes
        self.libraries: list[Library] = []
        self.shown: list[Track] = []
        self.selected: str | None = None
        """The highlighted library's name."""

    @property
    def music(self) -> MusicApp:
        return cast(MusicApp, self.app)

    def compose(self) -> ComposeResult:
        yield SyncHeader()
        yield Label("", id="track-count")
        with Horizontal(id="panes"):
            libraries: DataTable[str] = DataTable(id="libraries", cursor_type="row")
            libraries.border_title = "Libraries"
            yield libraries
            tracks: DataTable[str] = DataTable(id="tracks", cursor_type="row")
            tracks.border_title = "Tracks"
            yield tracks
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Tracks"
        libraries = self._table("libraries")
        libraries.add_columns("Library", "Tracks")
        self._table("tracks").add_columns("", "Title", "Length", "Size", "Upload", "Here")
        libraries.focus()
        self.action_reload()

    def _table(self, name: str) -> DataTable[str]:
        return cast("DataTable[str]", self.query_one(f"#{name}", DataTable))

    # -- loading ------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False, group="tracks")
    async def load(self, select: str | None = None) -> None:
        try:
            libraries = library_order(await self.tracks.libraries())
        except Exception as exc:
            report(self, exc, "Loading the libraries")
            return
        self.libraries = libraries
        wanted = select or self.selected
        table = self._table("libraries")
        table.clear()
        row = 0
        for n, lib in enumerate(libraries):
            star = "* " if lib.is_favorite else "  "
            table.add_row(visible(star + lib.name), str(lib.tracks_count), key=str(lib.id))
            if lib.name == wanted:
                row = n
        if libraries:
            table.move_cursor(row=row)
            self.selected = libraries[row].name
        else:
            self.selected = None
        await self._load_tracks()

    async def _load_tracks(self) -> None:
        try:
            found = await self.tracks.tracks(self.selected) if self.selected else []
        except Exception as exc:
            report(self, exc, "Loading the tracks")
            return
        self.shown = found
        chosen = self.music.focus_track
        table = self._table("tracks")
        table.clear()
        for track in found:
            table.add_row(
                "♪" if chosen is not None and chosen.id == track.id else "",
                visible(track.title),
                _duration(track.duration_seconds),
                _size(track.size_bytes),
                track.upload_state.value,
                "" if track.local_path else "not here",
                key=str(track.id),
            )
        total = len(found)
        name = self.selected or "no library"
        noun = "track" if total == 1 else "tracks"
        self.query_one("#track-count", Label).update(
            visible(f"{name}: {total} {noun}")
            + (f" · playing: {visible(chosen.title)}" if chosen else "")
        )

    @on(DataTable.RowHighlighted, "#libraries")
    def _library_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if 0 <= event.cursor_row < len(self.libraries):
            name = self.libraries[event.cursor_row].name
            if name != self.selected:
                self.selected = name
                self.reload_tracks()

    @work(exclusive=True, exit_on_error=False, group="tracks")
    async def reload_tracks(self) -> None:
        await self._load_tracks()

    # -- actions ------------------------------------------------------------------------

    def current_track(self) -> Track | None:
        table = self._table("tracks")
        if not self.shown or not (0 <= table.cursor_row < len(self.shown)):
            return None
        return self.shown[table.cursor_row]

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "libraries":
            self._table("tracks").focus()
        else:
            self.action_choose()

    def action_choose(self) -> None:
        track = self.current_track()
        if track is None:
            self.notify("No track highlighted.", title="Tracks")
            return
        self.choose(track)

    @work(exclusive=True, exit_on_error=False, group="tracks-write")
    async def choose(self, track: Track) -> None:
        try:
            await self.music.choose_track(track)
        except Exception as exc:
            report(self, exc, "Choosing the track")
            return
        where = "" if track.local_path else " (its file is not on this device)"
        self.notify(visible(f"{track.title}{where}"), title="Focus track", markup=False)
        await self._load_tracks()

    def action_favorite(self) -> None:
        if self.selected is None:
            self.notify("No library highlighted.", title="Tracks")
            return
        self.favorite(self.selected)

    @work(exclusive=True, exit_on_error=False, group="tracks-write")
    async def favorite(self, name: str) -> None:
        try:
            lib = await self.tracks.toggle_favorite(name)
        except Exception as exc:
            report(self, exc, "Changing the favourite")
            return
        self.music.note_change()
        self.load(select=lib.name)

    def action_remove(self) -> None:
        track = self.current_track()
        if track is None:
            self.notify("No track highlighted.", title="Tracks")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.remove_track(track)

        self.app.push_screen(
            ConfirmDialog(
                "Remove track",
                visible(f"Remove {track.title} from {self.selected}? Every device loses it."),
                yes="Remove",
            ),
            answered,
        )

    @work(exclusive=True, exit_on_error=False, group="tracks-write")
    async def remove_track(self, track: Track) -> None:
        try:
            await self.tracks.remove_track(str(track.id))
            chosen = self.music.focus_track
            if chosen is not None and chosen.id == track.id:
                await self.music.choose_track(None)
        except Exception as exc:
            report(self, exc, "Removing the track")
            return
        self.music.note_change()
        self.notify(visible(f"Removed {track.title}."), title="Tracks", markup=False)
        self.load()

    def action_add(self) -> None:
        library = self.selected

        def answered(path: str | None) -> None:
            if path:
                self.add(Path(path).expanduser(), library)

        self.app.push_screen(AddTrackDialog(library or "the default library"), answered)

    @work(exclusive=True, exit_on_error=False, group="tracks-write")
    async def add(self, path: Path, library: str | None) -> None:
        try:
            track = await self.tracks.add_track(path, None, library, self.max_bytes)
        except Exception as exc:
            report(self, exc, "Adding the track")
            return
        self.music.note_change()
        self.notify(visible(f"Added {track.title}."), title="Tracks", markup=False)
        self.load(select=library)
