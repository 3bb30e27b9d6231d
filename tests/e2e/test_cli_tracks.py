"""`focus libraries` and `focus tracks` run as a user would: files checked before anything is
recorded, libraries with derived counts, uploads to a real S3-compatible server (moto's, over
HTTP, driven by boto3) deduplicated by content, and a second device of the same user that
syncs through Postgres, lists the track and fetches it intact."""

from __future__ import annotations

import asyncio
import hashlib
import os
import wave
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UserFactory
from tests.e2e.conftest import Focus, assert_one_line_error, make_focus
from tests.r2.conftest import admin, s3_url

__all__ = ["s3_url"]  # the session's S3 server, as a fixture here too


def make_wav(path: Path, seconds: float, tone: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes([tone % 256, 1]) * int(8000 * seconds))
    return path


@pytest.fixture
def r2_env(s3_url: str) -> dict[str, str]:
    bucket = f"focus-{os.urandom(4).hex()}"
    admin(s3_url).create_bucket(Bucket=bucket)
    return {
        "FOCUS_R2__BUCKET": bucket,
        "FOCUS_R2__ENDPOINT_URL": s3_url,
        "FOCUS_R2_ACCESS_KEY_ID": "test",
        "FOCUS_R2_SECRET_ACCESS_KEY": "test",
    }


def test_files_that_are_not_tracks_are_refused_with_one_line_and_nothing_recorded(
    focus: Focus,
) -> None:
    home = focus.home
    (home / "notes.txt").write_text("not audio\n" * 100)
    (home / "fake.mp3").write_text("not audio either\n" * 100)
    (home / "folder").mkdir()
    big = make_wav(home / "big.wav", 2)
    cases = [
        (["tracks", "add", "notes.txt"], "not an audio file"),
        (["tracks", "add", "fake.mp3"], "not an audio file"),
        (["tracks", "add", "folder"], "is a directory"),
        (["tracks", "add", "missing.wav"], "no such file"),
    ]
    for args, words in cases:
        assert words in assert_one_line_error(focus(*args), 2), args
    config = home / ".config" / "focus" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[tracks]\nmax_file_mb = 1\n")
    os.truncate(big, 2 * 2**20)  # still a WAV header, now over 1 MB
    assert "max_file_mb" in assert_one_line_error(focus("tracks", "add", "big.wav"), 2)
    assert focus.json("tracks", "list")["tracks"] == []


def test_libraries_hold_tracks_and_a_delete_takes_them(focus: Focus) -> None:
    song = make_wav(focus.home / "song.wav", 1.5)
    added = focus.json("tracks", "add", str(song))["track"]
    assert added["title"] == "song" and added["upload_state"] == "pending"
    assert added["sha256"] == hashlib.sha256(song.read_bytes()).hexdigest()
    assert added["duration_seconds"] == 2 and added["content_type"].startswith("audio/")
    focus.json("libraries", "create", "Rain", "--type", "ambient")
    assert "exists already" in assert_one_line_error(focus("libraries", "create", "rain"), 1)
    focus.json("tracks", "add", str(song), "--title", "Drizzle", "--library", "Rain")
    focus.json("tracks", "add", str(song), "--title", "Storm", "--library", "rain")
    focus.json("libraries", "favorite", "Rain")
    listed = focus.json("libraries", "list")["libraries"]
    assert [(x["name"], x["tracks"], x["favorite"]) for x in listed] == [
        ("Rain", 2, True),
        ("Focus music", 1, False),
    ]
    focus.json("libraries", "rename", "Rain", "Rainfall")
    assert len(focus.json("tracks", "list", "--library", "Rainfall")["tracks"]) == 2
    focus.json("libraries", "delete", "Rainfall")
    left = focus.json("tracks", "list")["tracks"]
    assert [t["title"] for t in left] == ["song"]
    gone = focus.json("tracks", "remove", left[0]["id"][:8])["track"]
    assert gone["id"] == left[0]["id"] and focus.json("tracks", "list")["tracks"] == []
    assert "no library" in assert_one_line_error(focus("libraries", "delete", "Nope"), 1)


def test_an_upload_stores_the_bytes_under_the_content_hash_once(
    focus: Focus, r2_env: dict[str, str], s3_url: str
) -> None:
    focus.env |= r2_env
    song = make_wav(focus.home / "song.wav", 3)
    track = focus.json("tracks", "add", str(song))["track"]
    sent = focus.json("tracks", "upload")
    assert (sent["uploaded"], sent["failed"], sent["sent_bytes"]) == (1, 0, song.stat().st_size)
    user_id = _user_of(focus)
    key = f"user/{user_id}/tracks/{track['sha256']}"
    body = admin(s3_url).get_object(Bucket=r2_env["FOCUS_R2__BUCKET"], Key=key)["Body"].read()
    assert body == song.read_bytes()
    listed = focus.json("tracks", "list")["tracks"]
    assert [(t["upload_state"], t["r2_key"]) for t in listed] == [("uploaded", key)]

    # The same content again, under another title: recorded, and not sent again.
    focus.json("tracks", "add", str(song), "--title", "again")
    again = focus.json("tracks", "upload")
    assert (again["uploaded"], again["sent_bytes"]) == (1, 0)
    assert again["uploads"][0]["deduplicated"] is True
    assert focus.json("tracks", "upload")["uploads"] == []  # nothing left to send


def test_a_failed_upload_is_recorded_and_retried(focus: Focus, r2_env: dict[str, str]) -> None:
    focus.env |= r2_env | {"FOCUS_R2__BUCKET": "no-such-bucket-here"}
    make_wav(focus.home / "song.wav", 1)
    focus.json("tracks", "add", "song.wav")
    failed = focus("tracks", "upload")
    assert failed.returncode != 0
    track = focus.json("tracks", "list")["tracks"][0]
    assert track["upload_state"] == "failed" and track["attempts"] == 1 and track["last_error"]
    focus.env |= r2_env
    assert focus.json("tracks", "upload")["uploaded"] == 1


def _user_of(focus: Focus) -> str:
    import sqlite3
    import uuid

    with sqlite3.connect(focus.db) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'user_id'").fetchone()
    return str(uuid.UUID(value))


@pytest.mark.postgres
def test_a_second_device_lists_and_fetches_the_track_after_sync(
    pg_user: UserFactory, r2_env: dict[str, str], tmp_path: Path
) -> None:
    async def make() -> dict[str, Any]:
        return await pg_user()

    user = asyncio.run(make())
    laptop, phone = make_focus(tmp_path / "laptop"), make_focus(tmp_path / "phone")
    for dev in (laptop, phone):
        dev.env |= r2_env | {"FOCUS_SYNC_URL": user["sync_url"]}
    song = make_wav(laptop.home / "song.wav", 2, tone=7)
    added = laptop.json("tracks", "add", str(song), "--title", "Rain")["track"]
    # The first sync adopts the track (its key is then the server user's) and pushes it;
    # the upload changes its state, which the next sync sends. (Syncs print a note, so
    # they are checked by exit code.)
    assert laptop("sync").returncode == 0
    assert laptop.json("tracks", "upload")["uploaded"] == 1
    assert laptop("sync").returncode == 0
    assert phone("sync").returncode == 0
    listed = phone.json("tracks", "list")["tracks"]
    assert [(t["id"], t["title"], t["upload_state"]) for t in listed] == [
        (added["id"], "Rain", "uploaded")
    ]
    assert listed[0]["local_path"] is None
    fetched = phone.json("tracks", "fetch", "--all")["fetched"]
    assert len(fetched) == 1 and Path(fetched[0]["path"]).read_bytes() == song.read_bytes()
    assert phone.json("tracks", "fetch", "--all")["fetched"] == []  # it is here now
