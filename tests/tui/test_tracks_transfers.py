"""Uploads and fetches from the app, against moto's S3 server (tests/s3.py) over HTTP, with a
real SQLite file and the real boto3 client; the add dialog's path completion.

A track "from another device" is recorded and uploaded through `TracksService`, then its
file is deleted and its place on this device forgotten (`local_path` None), which is what
a device holds after pulling another device's track.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

from textual.widgets import Input, Label, ProgressBar

from app.bootstrap import bootstrap, r2_settings
from app.clock import FakeClock
from app.config import Settings
from app.domain.tracks import UploadState
from app.services.tracks import TracksService
from app.tui.track_add import AddTrackDialog, AudioTree, audio_entries, complete_path
from app.tui.track_choice import TrackChoice
from app.tui.track_transfers import TransferPanel
from storage.r2 import R2
from tests.s3 import bucket, s3, s3_url  # noqa: F401  (fixtures)
from tests.tui.conftest import AppFactory
from tests.tui.helpers import settle, start_with_space, toasts
from tests.tui.test_tracks_screen import MAX, STAND_IN, open_tracks, table, until, wav


def r2(url: str, name: str) -> dict[str, Any]:
    return {
        "bucket": name,
        "endpoint_url": url,
        "access_key_id": "test",
        "secret_access_key": "test",
    }


def object_bytes(client: Any, name: str, key: str) -> bytes:
    return bytes(client.get_object(Bucket=name, Key=key)["Body"].read())


async def stock(db_path: Path, clock: FakeClock, tmp_path: Path) -> list[Path]:
    """Drone (6.4 MB: multipart at 5 MB parts) and Storm, both pending, in two libraries."""
    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    try:
        tracks = TracksService(container.repo, clock)
        await tracks.create_library("Ambient")
        await tracks.create_library("Rain")
        drone = wav(tmp_path / "drone.wav", 400.0)
        storm = wav(tmp_path / "storm.wav", 1.0)
        await tracks.add_track(drone, "Drone", "Ambient", MAX)
        clock.advance(1)
        await tracks.add_track(storm, "Storm", "Rain", MAX)
    finally:
        await container.close()
    return [drone, storm]


async def test_u_uploads_the_pending_tracks_with_a_live_progress_bar(
    app_factory: AppFactory,
    db_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    s3_url: str,  # noqa: F811
    s3: Any,  # noqa: F811
    bucket: str,  # noqa: F811
) -> None:
    files = await stock(db_path, clock, tmp_path)
    app = app_factory(r2=r2(s3_url, bucket), tracks={"part_size_mb": 5})
    seen: list[tuple[str, int, int]] = []
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        screen = app.screen
        shown = screen.show_transfer  # type: ignore[attr-defined]

        def spy(job: Any) -> None:
            seen.append((job.title, job.done, job.total))
            shown(job)

        screen.show_transfer = spy  # type: ignore[attr-defined]
        await pilot.press("u")
        await settle(pilot)
        await until(pilot, lambda: not app.transfers.running)
        await settle(pilot)

        tracks = app.tracks_service()
        assert tracks is not None
        done = {t.title: t for t in await tracks.tracks()}
        for path, title in zip(files, ("Drone", "Storm"), strict=True):
            track = done[title]
            assert track.upload_state is UploadState.UPLOADED
            assert track.last_error is None and track.attempts == 1
            key = f"user/{track.user_id}/tracks/{hashlib.sha256(path.read_bytes()).hexdigest()}"
            assert track.r2_key == key
            assert object_bytes(s3, bucket, key) == path.read_bytes()
        # The table shows it (Ambient, highlighted); the bar went up to the whole file.
        assert [r[4] for r in table(app, "tracks")] == ["uploaded"]
        # Oldest first: Drone (two parts), then Storm, the bar live through them.
        drone, storm = (f.stat().st_size for f in files)
        progress = [(d, t) for title, d, t in seen if title == "Drone"]
        assert progress[-1] == (drone, drone)
        assert len(progress) > 2 and progress == sorted(progress)  # live, and never back
        assert seen[0][0] == "Drone" and seen[-1] == ("Storm", storm, storm)
        bar = screen.query_one("#transfer-bar", ProgressBar)
        assert (bar.progress, bar.total, bar.percentage) == (storm, storm, 1.0)
        text = str(screen.query_one("#transfer-text", Label).content)
        assert text == "Uploaded Storm (16 KB)"
        assert not [t for t, _ in toasts(app) if t == "Upload failed"]

        # Nothing left: said so; no request made.
        await pilot.press("u")
        await settle(pilot)
        assert toasts(app)[-1] == ("Tracks", "Nothing to upload: every track here is uploaded.")


async def test_a_failed_upload_is_said_in_one_line_and_recorded(
    app_factory: AppFactory,
    db_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    s3_url: str,  # noqa: F811
) -> None:
    await stock(db_path, clock, tmp_path)
    app = app_factory(r2=r2(s3_url, "no-such-bucket"))
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        await pilot.press("u")
        await settle(pilot)
        await until(pilot, lambda: not app.transfers.running)
        await settle(pilot)
        failed = [(t, m) for t, m in toasts(app) if t == "Upload failed"]
        assert sorted(m.split(":")[0] for _, m in failed) == ["Drone", "Storm"]
        assert all("\n" not in m and "NoSuchBucket" in m for _, m in failed)
        tracks = app.tracks_service()
        assert tracks is not None
        for track in await tracks.tracks():
            assert track.upload_state is UploadState.FAILED
            assert track.attempts == 1 and "NoSuchBucket" in (track.last_error or "")
        assert [r[4] for r in table(app, "tracks")] == ["failed"]
        assert app.screen.query_one(TransferPanel).has_class("-failed")
        assert app.is_running


async def test_without_r2_upload_says_so_in_one_line(
    app_factory: AppFactory, db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    await stock(db_path, clock, tmp_path)
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        await pilot.press("u")
        await settle(pilot)
        ((title, message),) = toasts(app)
        assert title == "Tracks"
        assert message.startswith("Cannot upload: object storage is not configured: set [r2] ")
        assert not app.transfers.running and app.transfers.last is None


async def test_a_track_from_another_device_is_fetched_before_it_plays(
    app_factory: AppFactory,
    db_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    s3_url: str,  # noqa: F811
    bucket: str,  # noqa: F811
) -> None:
    settings = Settings.from_mapping({"r2": r2(s3_url, bucket)})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = wav(elsewhere / "rain.wav", 3.0)
    original = source.read_bytes()
    container = await bootstrap(db=str(db_path), clock=clock, settings=settings)
    try:
        tracks = TracksService(container.repo, clock)
        store = R2(r2_settings(settings), clock=clock)
        track = await tracks.add_track(source, "Rain far away", None, MAX)
        track, _ = await tracks.upload(store, track, None)
        store.close()
        track = await tracks.record(track, local_path=None)  # as pulled by this device
        source.unlink()
        await TrackChoice(container.repo).write(track.id)
        clock.advance(1)
        pending = await tracks.add_track(wav(tmp_path / "local.wav"), "Not sent", None, MAX)
        await tracks.record(pending, local_path=None)  # another device's, never uploaded
    finally:
        await container.close()

    script = tmp_path / "player.py"
    script.write_text(STAND_IN)
    log = tmp_path / "player.log"
    player = f"{sys.executable} {script} {log} {{file}}"
    app = app_factory(r2=r2(s3_url, bucket), tracks={"player": player})
    cached = db_path.parent / "tracks" / (track.sha256 or "")
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert app.focus_track is not None and app.focus_track.id == track.id
        assert not cached.exists()
        await start_with_space(pilot)

        def lines() -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

        await until(pilot, lambda: f"start {cached}" in lines())
        assert cached.read_bytes() == original
        said = [m for t, m in toasts(app) if t in ("Music", "Tracks")]
        assert said == ["Fetching Rain far away before it plays…", "Fetched Rain far away (47 KB)"]
        assert app.focus_track.local_path == str(cached)

        # On the screen: `d` on a track its device never uploaded says so, once per press.
        await open_tracks(pilot)
        await pilot.press("tab")
        rows = table(app, "tracks")
        assert [(r[1], r[5]) for r in rows] == [("Rain far away", ""), ("Not sent", "not here")]
        await pilot.press("down", "d")
        await settle(pilot)
        assert toasts(app)[-1] == (
            "Tracks",
            "Not sent is not uploaded yet (by the device that added it): nothing to fetch.",
        )


async def test_d_fetches_the_highlighted_track_with_its_progress(
    app_factory: AppFactory,
    db_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    s3_url: str,  # noqa: F811
    bucket: str,  # noqa: F811
) -> None:
    settings = Settings.from_mapping({"r2": r2(s3_url, bucket)})
    source = wav(tmp_path / "waves.wav", 200.0)
    original = source.read_bytes()
    container = await bootstrap(db=str(db_path), clock=clock, settings=settings)
    try:
        tracks = TracksService(container.repo, clock)
        store = R2(r2_settings(settings), clock=clock)
        track = await tracks.add_track(source, "Waves", None, MAX)
        track, _ = await tracks.upload(store, track, None)
        store.close()
        await tracks.record(track, local_path=None)
        source.unlink()
    finally:
        await container.close()
    app = app_factory(r2=r2(s3_url, bucket))
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        await pilot.press("tab")
        assert [r[5] for r in table(app, "tracks")] == ["not here"]
        await pilot.press("d")
        await settle(pilot)
        await until(pilot, lambda: not app.transfers.running)
        await settle(pilot)
        cached = db_path.parent / "tracks" / (track.sha256 or "")
        assert cached.read_bytes() == original
        assert [r[5] for r in table(app, "tracks")] == [""]
        bar = app.screen.query_one("#transfer-bar", ProgressBar)
        assert bar.percentage == 1.0 and bar.total == len(original)
        text = str(app.screen.query_one("#transfer-text", Label).content)
        assert text == "Fetched Waves (3.1 MB)"


# -- the add dialog ---------------------------------------------------------------------------


def test_complete_path_offers_folders_and_audio_first(tmp_path: Path) -> None:
    music = tmp_path / "Music"
    music.mkdir()
    (music / "notes.txt").write_text("x")
    (music / "night.ogg").write_bytes(b"x")
    (music / "nested").mkdir()
    (music / ".hidden.wav").write_bytes(b"x")
    base = str(tmp_path)
    assert complete_path(f"{base}/Mu") == f"{base}/Music/"
    assert complete_path(f"{base}/Music") == f"{base}/Music/"
    assert complete_path(f"{base}/Music/n") == f"{base}/Music/nested/"
    assert complete_path(f"{base}/Music/ni") == f"{base}/Music/night.ogg"
    assert complete_path(f"{base}/Music/no") == f"{base}/Music/notes.txt"
    assert complete_path(f"{base}/Music/.h") == f"{base}/Music/.hidden.wav"
    assert complete_path(f"{base}/Music/night.ogg") is None
    assert complete_path(f"{base}/nothing/he") is None
    assert complete_path("") is None
    kept = sorted(p.name for p in audio_entries(music.iterdir()))
    assert kept == ["nested", "night.ogg"]


async def test_the_add_dialog_completes_with_tab_then_adds_and_uploads(
    app_factory: AppFactory,
    db_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    s3_url: str,  # noqa: F811
    s3: Any,  # noqa: F811
    bucket: str,  # noqa: F811
) -> None:
    folder = tmp_path / "Sounds"
    folder.mkdir()
    song = wav(folder / "brook.wav", 1.0)
    (folder / "brook.txt").write_text("not this one")
    app = app_factory(r2=r2(s3_url, bucket))
    async with app.run_test(size=(120, 30)) as pilot:
        await open_tracks(pilot)
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AddTrackDialog)
        field = dialog.query_one("#path", Input)
        await pilot.press(*f"{tmp_path}/So")
        await until(pilot, lambda: field._suggestion == f"{tmp_path}/Sounds/")
        await pilot.press("tab")
        assert field.value == f"{tmp_path}/Sounds/" and field.has_focus
        await pilot.press("b")
        await until(pilot, lambda: field._suggestion == str(song))  # audio before text
        await pilot.press("right")
        assert field.value == str(song)
        await pilot.press("enter")
        await settle(pilot)
        await until(pilot, lambda: not app.transfers.running)
        await settle(pilot)
        assert not isinstance(app.screen, AddTrackDialog)
        assert ("Tracks", "Added brook; uploading it.") in toasts(app)
        tracks = app.tracks_service()
        assert tracks is not None
        (track,) = await tracks.tracks()
        assert track.upload_state is UploadState.UPLOADED
        assert track.r2_key is not None
        assert object_bytes(s3, bucket, track.r2_key) == song.read_bytes()

        # A directory: one line in the dialog, nothing recorded.
        await pilot.press("a")
        await settle(pilot)
        await pilot.press(*str(folder), "enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AddTrackDialog)
        said = str(dialog.query_one("#add-error", Label).content)
        assert said == f"{folder}: is a directory, not an audio file"
        await pilot.press("ctrl+o")  # the tree, on demand
        await pilot.pause(0.3)
        assert dialog.query_one(AudioTree).has_focus
        await pilot.press("escape")
        await settle(pilot)
        assert len(await tracks.tracks()) == 1


async def test_browse_picks_a_file_from_the_tree_of_folders_and_audio(
    app_factory: AppFactory, tmp_path: Path
) -> None:
    home = Path.home()  # the test's own (tests/conftest.py)
    home.mkdir(parents=True, exist_ok=True)
    song = wav(home / "a-song.wav", 1.0)
    (home / "b-notes.txt").write_text("not audio")
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_tracks(pilot)
        await pilot.press("a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AddTrackDialog)
        await pilot.press("ctrl+o")
        tree = dialog.query_one(AudioTree)

        def names() -> list[str]:
            return [str(child.label) for child in tree.root.children]

        await until(pilot, lambda: "a-song.wav" in names())
        assert "b-notes.txt" not in names() and tree.has_focus
        line = names().index("a-song.wav") + 1  # the root is line 0
        tree.move_cursor(tree.get_node_at_line(line))
        await pilot.press("enter")
        await pilot.pause()
        field = dialog.query_one("#path", Input)
        assert field.value == str(song) and field.has_focus
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, AddTrackDialog))
        await settle(pilot)
        assert ("Tracks", "Added a-song; it uploads once [r2] is configured.") in toasts(app)
