"""The tracks screen (`l`) and the focus music, driven by Pilot over a real SQLite file.

Tracks are made through `TracksService` from WAV files the `wave` module writes; the player
is a stand-in Python script that logs what happens to it.
"""

from __future__ import annotations

import sys
import textwrap
import time
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Label

from app.bootstrap import bootstrap
from app.clock import FakeClock
from app.config import Settings
from app.domain.models import Status
from app.services.tracks import TracksService
from app.tui.app import FocusApp
from app.tui.screens.dialogs import ConfirmDialog
from app.tui.tracks import AddTrackDialog, TracksScreen
from tests.tui.conftest import AppFactory
from tests.tui.helpers import cell_text, service_of, settle, start_with_space, toasts

MAX = 500 * 2**20

STAND_IN = textwrap.dedent(
    """
    import signal, sys, time

    log_path, track = sys.argv[1], sys.argv[2]

    def log(line):
        with open(log_path, "a") as log_file:
            log_file.write(line + "\\n")

    def on_term(signum, frame):
        log("term")
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    log("start " + track)
    while True:
        time.sleep(0.05)
    """
)


def wav(path: Path, seconds: float = 1.0) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * int(8000 * seconds))
    return path


async def make_tracks(db_path: Path, clock: FakeClock, tmp_path: Path) -> None:
    """Two libraries: Ambient (two tracks, one only on another device) and Rain (one)."""
    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    try:
        tracks = TracksService(container.repo, clock)
        await tracks.create_library("Ambient")
        await tracks.create_library("Rain")
        await tracks.add_track(wav(tmp_path / "drone.wav", 2.0), "Drone", "Ambient", MAX)
        clock.advance(1)
        gone = await tracks.add_track(wav(tmp_path / "far.wav"), "Far away", "Ambient", MAX)
        await tracks.record(gone, local_path=None)
        await tracks.add_track(wav(tmp_path / "storm.wav", 1.0), "Storm", "Rain", MAX)
    finally:
        await container.close()


def table(app: FocusApp, name: str) -> list[list[str]]:
    found = app.screen.query_one(f"#{name}", DataTable)
    return [[cell_text(c) for c in found.get_row_at(r)] for r in range(found.row_count)]


async def open_tracks(pilot: Pilot[None]) -> FocusApp:
    app = pilot.app
    assert isinstance(app, FocusApp)
    await settle(pilot)
    await pilot.press("l")
    await settle(pilot)
    assert isinstance(app.screen, TracksScreen)
    return app


async def until(pilot: Pilot[None], done: Callable[[], bool], seconds: float = 8) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline
        await pilot.pause(0.05)


def process_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return "gone"
    return stat.rsplit(")", 1)[1].split()[0]


@pytest.fixture
async def stocked(db_path: Path, clock: FakeClock, tmp_path: Path) -> None:
    await make_tracks(db_path, clock, tmp_path)


async def test_lists_libraries_and_tracks_and_favourite_reorders(
    app_factory: AppFactory, stocked: None
) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        assert table(app, "libraries") == [["  Ambient", "2"], ["  Rain", "1"]]
        rows = table(app, "tracks")
        assert [r[1:] for r in rows] == [
            ["Drone", "0:02", "31 KB", "pending", ""],
            ["Far away", "0:01", "16 KB", "pending", "not here"],
        ]
        await pilot.press("down")
        await settle(pilot)
        assert [r[1] for r in table(app, "tracks")] == ["Storm"]
        await pilot.press("f")
        await settle(pilot)
        assert table(app, "libraries") == [["* Rain", "1"], ["  Ambient", "2"]]
        assert [r[1] for r in table(app, "tracks")] == ["Storm"]
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is app.timer_screen


async def test_choose_persists_remove_asks_add_refuses_non_audio(
    app_factory: AppFactory, stocked: None, tmp_path: Path
) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        await pilot.press("down")  # Rain
        await settle(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert app.focus_track is not None and app.focus_track.title == "Storm"
        assert table(app, "tracks")[0][0] == "♪"

        # Adding a file that is not audio: said, and nothing recorded.
        junk = tmp_path / "notes.txt"
        junk.write_text("not a sound\n" * 20)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AddTrackDialog)
        await pilot.press(*str(junk), "enter")
        await settle(pilot)
        # Said in one line inside the dialog, which stays open; nothing recorded.
        assert isinstance(app.screen, AddTrackDialog)
        said = str(app.screen.query_one("#add-error", Label).content)
        assert said == f"{junk}: not an audio file its content names (mp3, ogg, flac, wav...)"
        await pilot.press("escape")
        await settle(pilot)
        assert [r[1] for r in table(app, "tracks")] == ["Storm"]

        # Removing asks first; "no" keeps it, "yes" removes it.
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("n")
        await settle(pilot)
        assert [r[1] for r in table(app, "tracks")] == ["Storm"]

    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert app.focus_track is not None and app.focus_track.title == "Storm"
        await open_tracks(pilot)
        await pilot.press("down")  # Rain
        await settle(pilot)
        await pilot.press("tab", "delete")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert table(app, "tracks") == []
        assert table(app, "libraries")[1] == ["  Rain", "0"]
        assert app.focus_track is None
        tracks = app.tracks_service()
        assert tracks is not None
        assert [t.title for t in await tracks.tracks()] == ["Drone", "Far away"]


async def test_the_chosen_track_follows_the_focus_session(
    app_factory: AppFactory, stocked: None, tmp_path: Path
) -> None:
    script = tmp_path / "player.py"
    script.write_text(STAND_IN)
    log = tmp_path / "player.log"
    command = f"{sys.executable} {script} {log} {{file}}"
    app = app_factory(tracks={"player": command})
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        await pilot.press("tab", "enter")  # the first track of Ambient
        await settle(pilot)
        chosen = app.focus_track
        assert chosen is not None and chosen.local_path is not None
        await pilot.press("escape")
        await settle(pilot)

        def lines() -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

        assert chosen.title == "Drone"
        await start_with_space(pilot)
        await until(pilot, lambda: f"start {chosen.local_path}" in lines())
        playback = app.playback
        assert playback is not None
        pid = playback.player.pid
        assert pid is not None

        await pilot.press("space")  # pause
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.PAUSED
        assert playback.player.state == "paused"
        await until(pilot, lambda: process_state(pid) == "T")

        await pilot.press("space")  # resume
        await settle(pilot)
        assert playback.player.state == "playing"
        await until(pilot, lambda: process_state(pid) in ("S", "R"))

        await pilot.press("c")  # complete
        await settle(pilot)
        await until(pilot, lambda: "term" in lines())
        assert playback.player.state == "stopped"

        await start_with_space(pilot)  # a break: no music
        await settle(pilot)
        assert playback.player.state == "stopped"
    assert all(process_state(p) == "gone" for p in [pid])
    assert not toasts(app) or not any(t.startswith("Music") for t, _ in toasts(app))


async def test_quitting_stops_the_player_and_no_player_is_said_once(
    app_factory: AppFactory, stocked: None, tmp_path: Path
) -> None:
    script = tmp_path / "player.py"
    script.write_text(STAND_IN)
    log = tmp_path / "player.log"
    app = app_factory(tracks={"player": f"{sys.executable} {script} {log} {{file}}"})
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        await pilot.press("escape")
        await start_with_space(pilot)
        playback = app.playback
        assert playback is not None
        await until(pilot, lambda: playback.player.pid is not None)
        pid = playback.player.pid
        assert pid is not None
    assert process_state(pid) == "gone"
    assert "term" in log.read_text()

    # No player installed: said once, when the focus session starts with a track chosen.
    app = app_factory(tracks={"player": "/no/such/player {file}"})
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.ACTIVE  # left open above
        await pilot.press("space")  # pause: nothing to say
        await settle(pilot)
        await pilot.press("space")  # resume
        await settle(pilot)
        await pilot.pause(1.2)
        said = [m for t, m in toasts(app) if t == "Music"]
        assert said == ["No audio player found: install mpv or ffplay."]


async def test_no_player_is_never_said_without_a_chosen_track(app_factory: AppFactory) -> None:
    app = app_factory(tracks={"player": "/no/such/player {file}"})
    async with app.run_test(size=(120, 30)) as pilot:
        await start_with_space(pilot)
        await pilot.pause(1.2)
        assert app.playback is not None and not app.playback.player.available
        assert not [m for t, m in toasts(app) if t == "Music"]


async def test_the_key_is_remappable_and_in_the_palette(app_factory: AppFactory) -> None:
    app = app_factory(keys={"tracks": "k"})
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Tracks"].endswith("key: k")
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, TracksScreen)
        assert table(app, "libraries") == [] and table(app, "tracks") == []
