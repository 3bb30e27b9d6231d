"""The focus track is this device's choice: in the SQLite store's `meta` table, or, on a
Postgres store (`[storage] url`, whose client role cannot write `meta`), in a state file
in the data folder. Both through Pilot, on a real SQLite file and the suite's Postgres."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.paths import user_dir
from app.services.tracks import TracksService
from app.tui.track_choice import STATE_FILE, TrackChoice
from storage.postgres import open_pg_repository
from tests.conftest import UserFactory
from tests.tui.conftest import AppFactory
from tests.tui.helpers import settle, toasts
from tests.tui.test_postgres_app import pg_app
from tests.tui.test_tracks_screen import MAX, open_tracks, table, wav


def state_file() -> Path:
    return Path(user_dir("data")) / STATE_FILE


async def test_on_sqlite_the_choice_is_kept_in_meta(
    app_factory: AppFactory, db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        tracks = app.tracks_service()
        assert tracks is not None
        track = await tracks.add_track(wav(tmp_path / "hum.wav"), "Hum", None, MAX)
        await open_tracks(pilot)
        await pilot.press("tab", "enter")
        await settle(pilot)
        assert app.focus_track is not None and app.focus_track.id == track.id
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT value FROM meta WHERE key = 'focus_track'").fetchall()
    assert rows == [(str(track.id),)]
    assert not state_file().exists()


@pytest.mark.postgres
async def test_on_postgres_the_choice_is_kept_in_a_state_file(
    pg_user: UserFactory, clock: FakeClock, tmp_path: Path
) -> None:
    user = await pg_user()
    other = await open_pg_repository(user["sync_url"], ZoneInfo("UTC"))
    try:
        tracks = TracksService(other, clock)
        first = await tracks.add_track(wav(tmp_path / "a.wav"), "Alpha", None, MAX)
        clock.advance(1)
        second = await tracks.add_track(wav(tmp_path / "b.wav"), "Beta", None, MAX)
        # A file another user of this machine left: kept as it is.
        state_file().parent.mkdir(parents=True, exist_ok=True)
        state_file().write_text(json.dumps({"focus_track": {"someone-else": "x"}}))

        app = pg_app(user["sync_url"], clock, tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            await open_tracks(pilot)
            assert [r[1] for r in table(app, "tracks")] == ["Alpha", "Beta"]
            await pilot.press("tab", "down", "enter")
            await settle(pilot)
            assert app.focus_track is not None and app.focus_track.id == second.id
            assert not [t for t, _ in toasts(app) if t != "Focus track"], toasts(app)
            assert table(app, "tracks")[1][0] == "♪"
        saved = json.loads(state_file().read_text())
        assert saved == {"focus_track": {"someone-else": "x", user["user_id"]: str(second.id)}}
        assert [p.name for p in state_file().parent.iterdir()] == [STATE_FILE]  # no temp left

        # The next start reads it back; choosing none removes this user's entry only.
        app = pg_app(user["sync_url"], clock, tmp_path)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(pilot)
            assert app.focus_track is not None and app.focus_track.id == second.id
            await app.choose_track(None)
        assert json.loads(state_file().read_text()) == {"focus_track": {"someone-else": "x"}}
        assert await TrackChoice(other).read() is None
        await TrackChoice(other).write(first.id)
        assert await TrackChoice(other).read() == first.id
    finally:
        await other.close()
    assert not (tmp_path / "focus.db").exists()
