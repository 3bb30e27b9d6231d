"""Focus music in the app: the tracks screen (`l`) and the player that follows the timer.

The screen lists the libraries (favourites first) and the highlighted library's tracks;
`enter` chooses the focus track, kept device-locally (see `app.tui.track_choice`: never
synced, another device may not hold the file). `u` uploads the pending tracks and `d`
fetches the highlighted one, through the app's transfer queue (`app.tui.track_transfers`)
with a live progress bar; `a` adds a file (`app.tui.track_add`) and, with `[r2]` set,
uploads it. `MusicApp` plays the chosen track, looping, while a focus session is active,
pauses it with the session and stops it otherwise; a chosen track not on this device is
fetched first. A missing player or a player failure is said once and never stops the timer.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Label
from textual.widgets.data_table import ColumnKey

from app.domain.errors import FocusError
from app.domain.tracks import Library, Track, UploadState
from app.player import Playback, Player, find_player
from app.textsafe import visible
from app.tui.errors import describe, report
from app.tui.screens.dialogs import ConfirmDialog
from app.tui.track_add import AddTrackDialog
from app.tui.track_choice import TrackChoice
from app.tui.track_transfers import WORKER_GROUP, Job, TransferPanel, Transfers, size_text
from app.tui.widgets.footer import KeysFooter
from app.tui.widgets.layout import HEIGHT_BREAKPOINTS, WIDTH_BREAKPOINTS
from app.tui.widgets.sync_header import SyncHeader

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.clock import Clock
    from app.config import Settings
    from app.services import FocusService
    from app.services.tracks import TracksService
    from app.tui.screens.timer import TimerScreen
    from storage.r2 import R2
    from storage.sql import SqlRepository

__all__ = ["AddTrackDialog", "MusicApp", "TracksScreen", "library_order"]

NO_PLAYER = "No audio player found: install mpv or ffplay"
FOLLOW_SECONDS = 1.0
"""How often (real seconds) the player is brought in step with the timer, besides changes."""


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds // 60}:{seconds % 60:02d}"


_size = size_text


def library_order(libraries: list[Library]) -> list[Library]:
    """Favourites first, then by name regardless of case."""
    return sorted(libraries, key=lambda lib: (not lib.is_favorite, lib.name.casefold()))


# -- the app's side -----------------------------------------------------------------------


class MusicApp(App[None]):
    """Holds the chosen track, the one player and the transfer queue; follows the timer
    screen's session."""

    settings: Settings
    clock: Clock
    container: Container | None
    service: FocusService | None
    timer_screen: TimerScreen

    focus_track: Track | None = None
    playback: Playback | None = None
    _music_said: str | None = None
    _no_player_said = False
    _transfers: Transfers | None = None
    _r2: R2 | None = None
    _fetch_asked: set[uuid.UUID] | None = None

    def tracks_service(self) -> TracksService | None:
        from app.services.tracks import TracksService

        if self.container is not None:
            return TracksService(self.container.repo, self.clock)
        if self.service is not None:
            return TracksService(cast("SqlRepository", self.service.repo), self.clock)
        return None

    def track_choice(self) -> TrackChoice | None:
        tracks = self.tracks_service()
        return TrackChoice(tracks.repo) if tracks is not None else None

    # -- object storage and the transfer queue -----------------------------------------

    @property
    def transfers(self) -> Transfers:
        if self._transfers is None:
            self._transfers = Transfers(self)
        return self._transfers

    def r2_problem(self) -> str | None:
        """Why tracks cannot go to or come from R2 (`[r2]` incomplete), or None."""
        from app.bootstrap import r2_settings

        try:
            r2_settings(self.settings)
        except FocusError as exc:
            return exc.message
        return None

    def r2_store(self) -> R2:
        """The one R2 client of the app (made on first use); ConfigError without `[r2]`."""
        if self._r2 is None:
            from app.bootstrap import r2_settings
            from storage.r2 import R2

            self._r2 = R2(r2_settings(self.settings), clock=self.clock)
        return self._r2

    def cache_dir(self) -> Path:
        """Where fetched tracks go: `tracks/` beside the database, as `focus tracks fetch`."""
        if self.container is not None:
            return self.container.db_path.parent / "tracks"
        from app.paths import user_dir

        return Path(user_dir("data")) / "tracks"

    def run_transfers(self) -> None:
        self.run_worker(
            self.transfers.run(), group=WORKER_GROUP, exit_on_error=False, name="transfers"
        )

    def _tracks_screens(self) -> list[TracksScreen]:
        return [s for s in self.screen_stack if isinstance(s, TracksScreen)]

    def transfer_progress(self, job: Job) -> None:
        for screen in self._tracks_screens():
            screen.show_transfer(job)

    def transfer_finished(self, job: Job, more: bool) -> None:
        """A transfer ended: the track's new record, the screens, the music; a failure is
        said in one line."""
        if job.state == "done":
            self.note_change()
        chosen = self.focus_track
        if chosen is not None and chosen.id == job.track.id:
            self.focus_track = job.track
        screens = self._tracks_screens()
        for screen in screens:
            screen.show_transfer(job)
            screen.reload_tracks()
        if job.state == "failed":
            what = "Upload failed" if job.kind == "upload" else "Fetch failed"
            self.notify(
                visible(f"{job.title}: {job.message}"),
                title=what,
                severity="warning",
                timeout=8,
                markup=False,
            )
        elif job.kind == "fetch" and not screens:
            self.notify(visible(job.message), title="Tracks", markup=False)
        if job.kind == "fetch":
            self.follow_timer()

    def ensure_here(self, track: Track) -> None:
        """Fetch `track` when its audio is not on this device (once per choice); a track
        its device has not uploaded yet, or no `[r2]`, is said once."""
        from app.services.tracks import TracksService

        if TracksService.is_here(track) or self.transfers.queued(track.id) is not None:
            return
        asked = self._fetch_asked if self._fetch_asked is not None else set()
        self._fetch_asked = asked
        if track.id in asked:
            return
        asked.add(track.id)
        problem = self.r2_problem()
        if track.upload_state is not UploadState.UPLOADED or not track.sha256:
            message = (
                f"{track.title} is not on this device, and the device that added it has "
                "not uploaded it yet"
            )
        elif problem is not None:
            message = f"{track.title} is not on this device, and cannot be fetched: {problem}"
        else:
            self.transfers.add("fetch", [track])
            if not self._tracks_screens():
                self.notify(
                    visible(f"Fetching {track.title} before it plays…"),
                    title="Music",
                    markup=False,
                )
            return
        self.notify(visible(message), title="Music", severity="warning", timeout=8, markup=False)

    # -- the player ------------------------------------------------------------------------

    def start_music(self) -> None:
        """On mount: the player (found once), and the check every second."""
        self.playback = Playback(Player(find_player(self.settings.tracks.player)))
        self.set_interval(FOLLOW_SECONDS, self.follow_timer, name="music")

    @work(exclusive=True, group="music-load", exit_on_error=False)
    async def load_focus_track(self) -> None:
        """The store is open: read which track was chosen on this device."""
        tracks, choice = self.tracks_service(), self.track_choice()
        if tracks is None or choice is None:
            return
        try:
            chosen = await choice.read()
            found = [t for t in await tracks.tracks() if t.id == chosen] if chosen else []
        except Exception as exc:
            report(self, exc, "Reading the focus track")
            return
        self.focus_track = found[0] if found else None
        self.follow_timer()

    async def choose_track(self, track: Track | None) -> None:
        """Record `track` as this device's focus track (None: no music); one not on this
        device is fetched now, so it is there when the session starts."""
        choice = self.track_choice()
        if choice is None:
            return
        await choice.write(track.id if track else None)
        self.focus_track = track
        self._music_said = None
        if track is not None:
            if self._fetch_asked is not None:
                self._fetch_asked.discard(track.id)
            self.ensure_here(track)
        self.follow_timer()

    def follow_timer(self) -> None:
        """Bring the player in step with the open session; never raises."""
        from app.services.tracks import TracksService

        playback = self.playback
        if playback is None:
            return
        session = self.timer_screen.session
        status = session.status.value if session else None
        mode = session.mode.value if session else None
        track = self.focus_track
        here = track is not None and TracksService.is_here(track)
        path = Path(track.local_path) if track is not None and track.local_path and here else None
        wanted = track is not None and status == "active" and mode == "focus"
        if not playback.player.available:
            if wanted and not self._no_player_said:
                self._no_player_said = True
                self.notify(NO_PLAYER + ".", title="Music", severity="warning", timeout=8)
            return
        if wanted and not here:
            assert track is not None
            self.ensure_here(track)  # plays once fetched
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
        if self._r2 is not None:
            self._r2.close()
            self._r2 = None


# -- the screen -----------------------------------------------------------------------------


class TracksScreen(Screen[None]):
    """Libraries on the left, the highlighted one's tracks on the right."""

    DEFAULT_CSS = """
    TracksScreen #panes { height: 1fr; }
    TracksScreen #libraries { width: 40%; height: 1fr; }
    TracksScreen #tracks { width: 1fr; height: 1fr; }
    TracksScreen #track-count { height: 1; padding: 0 1; }
    /* under 70 columns: the libraries above their tracks, the keys in rows of four */
    TracksScreen.-narrow #panes { layout: vertical; }
    TracksScreen.-narrow #libraries { width: 1fr; height: 7; }
    TracksScreen.-narrow KeysFooter { layout: grid; grid-size: 4; grid-rows: 1; height: 3; }
    /* 70-109 columns: two rows of six */
    TracksScreen.-normal-width KeysFooter { layout: grid; grid-size: 6; grid-rows: 1; height: 2; }
    """
    HORIZONTAL_BREAKPOINTS = WIDTH_BREAKPOINTS
    VERTICAL_BREAKPOINTS = HEIGHT_BREAKPOINTS

    UPLOAD_KEY = "u"
    FETCH_KEY = "d"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="back"),
        Binding("r", "reload", "Reload", id="reload"),
        Binding("enter", "choose", "Choose"),
        Binding("f", "favorite", "Favourite"),
        Binding("delete,x", "remove", "Remove"),
        Binding("a", "add", "Add"),
        Binding(UPLOAD_KEY, "upload", "Upload", id="upload_tracks"),
        Binding(FETCH_KEY, "fetch", "Fetch", id="fetch_track"),
    ]

    def __init__(self, tracks: TracksService, max_bytes: int) -> None:
        super().__init__()
        self.tracks = tracks
        self.max_bytes = max_bytes
        self.libraries: list[Library] = []
        self.shown: list[Track] = []
        self.selected: str | None = None
        """The highlighted library's name."""
        self._columns: list[ColumnKey] = []

    @property
    def music(self) -> MusicApp:
        return cast(MusicApp, self.app)

    def compose(self) -> ComposeResult:
        yield SyncHeader()
        yield Label("", id="track-count")
        yield TransferPanel(id="transfer")
        with Horizontal(id="panes"):
            libraries: DataTable[str] = DataTable(id="libraries", cursor_type="row")
            libraries.border_title = "Libraries"
            yield libraries
            tracks: DataTable[str] = DataTable(id="tracks", cursor_type="row")
            tracks.border_title = "Tracks"
            yield tracks
        yield KeysFooter()

    def on_mount(self) -> None:
        self.sub_title = "Tracks"
        libraries = self._table("libraries")
        libraries.add_columns("Library", "Tracks")
        self._columns = self._table("tracks").add_columns(
            "", "Title", "Length", "Size", "Upload", "Here"
        )
        libraries.focus()
        self.action_reload()
        transfers = self.music.transfers
        shown = transfers.current or transfers.last
        if shown is not None:
            self.show_transfer(shown)

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
        row = table.cursor_row
        table.clear()
        for track in found:
            table.add_row(
                "♪" if chosen is not None and chosen.id == track.id else "",
                visible(track.title),
                _duration(track.duration_seconds),
                _size(track.size_bytes),
                track.upload_state.value,
                "" if self.tracks.is_here(track) else "not here",
                key=str(track.id),
            )
        if found:
            table.move_cursor(row=min(max(row, 0), len(found) - 1))
        running = self.music.transfers.current
        if running is not None and running.state == "running":
            self.show_transfer(running)
        total = len(found)
        noun = "track" if total == 1 else "tracks"
        count = self.query_one("#track-count", Label)
        if self.selected is None:
            count.update("No music yet: a adds an audio file")
        else:
            count.update(
                visible(f"{self.selected}: {total} {noun}")
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

        async def add(path: Path) -> Track:
            return await self.tracks.add_track(path, None, library, self.max_bytes)

        def added(track: Track | None) -> None:
            if track is None:
                return
            self.music.note_change()
            if self.music.r2_problem() is None:
                self.music.transfers.add("upload", [track])
                more = "; uploading it"
            else:
                more = "; it uploads once [r2] is configured"
            self.notify(visible(f"Added {track.title}{more}."), title="Tracks", markup=False)
            self.load(select=library)

        self.app.push_screen(AddTrackDialog(library or "the default library", add), added)

    # -- transfers ----------------------------------------------------------------------

    def show_transfer(self, job: Job) -> None:
        """The transfer's line and bar, and its progress in the track's row."""
        self.query_one(TransferPanel).show(job)
        if job.state != "running" or not job.total:
            return
        table = self._table("tracks")
        key = str(job.track.id)
        if key not in table.rows:
            return
        percent = f"{100 * job.done // job.total}%"
        if job.kind == "upload":
            table.update_cell(key, self._columns[4], f"uploading {percent}")
        else:
            table.update_cell(key, self._columns[5], f"fetching {percent}")

    def action_upload(self) -> None:
        problem = self.music.r2_problem()
        if problem is not None:
            self.notify(visible(f"Cannot upload: {problem}"), title="Tracks", markup=False)
            return
        self.upload_pending()

    @work(exclusive=True, exit_on_error=False, group="tracks-upload")
    async def upload_pending(self) -> None:
        try:
            pending = await self.tracks.pending_uploads()
        except Exception as exc:
            report(self, exc, "Finding the tracks to upload")
            return
        if not pending:
            self.notify("Nothing to upload: every track here is uploaded.", title="Tracks")
            return
        queued = self.music.transfers.add("upload", pending)
        if not queued:
            self.notify("Those uploads are under way already.", title="Tracks")

    def action_fetch(self) -> None:
        track = self.current_track()
        if track is None:
            self.notify("No track highlighted.", title="Tracks")
            return
        if self.tracks.is_here(track):
            self.notify(
                visible(f"{track.title} is on this device already."), title="Tracks", markup=False
            )
            return
        if track.upload_state is not UploadState.UPLOADED:
            self.notify(
                visible(
                    f"{track.title} is not uploaded yet (by the device that added it): "
                    "nothing to fetch."
                ),
                title="Tracks",
                markup=False,
            )
            return
        problem = self.music.r2_problem()
        if problem is not None:
            self.notify(visible(f"Cannot fetch: {problem}"), title="Tracks", markup=False)
            return
        self.music.transfers.add("fetch", [track])
