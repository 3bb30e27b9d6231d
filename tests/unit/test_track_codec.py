"""Libraries and tracks round-trip through their rows; only the shared columns sync."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from app.domain.errors import UsageError
from app.domain.tracks import (
    DEFAULT_LIBRARY_ID,
    Library,
    Track,
    UploadState,
    library_description,
    library_name,
    library_type,
    track_title,
)
from storage.track_codec import (
    TRACK_LOCAL,
    library_from_row,
    library_to_row,
    track_from_row,
    track_to_row,
)

AT = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def test_a_library_round_trips_and_its_count_is_not_a_column() -> None:
    lib = Library(uuid.uuid4(), uuid.uuid4(), "Deep work", AT, AT, "rain", "ambient", True, 3)
    row = library_to_row(lib)
    assert "tracks_count" not in row
    assert library_from_row(row, tracks_count=7) == Library(
        lib.id, lib.user_id, "Deep work", AT, AT, "rain", "ambient", True, 3, tracks_count=7
    )


def test_a_track_round_trips_and_syncs_only_what_devices_share() -> None:
    track = Track(
        uuid.uuid4(),
        uuid.uuid4(),
        DEFAULT_LIBRARY_ID,
        "Rain on a tin roof",
        AT,
        size_bytes=123,
        sha256="ab" * 32,
        content_type="audio/mpeg",
        duration_seconds=61,
        upload_state=UploadState.FAILED,
        version=2,
        updated_at=AT,
        local_path="/home/me/rain.mp3",
        last_error="503",
        attempts=2,
    )
    assert track_from_row(track_to_row(track)) == track
    shared = track_to_row(track, synced_only=True)
    assert not set(TRACK_LOCAL) & set(shared)
    assert shared["upload_state"] == "failed"
    # Arriving from elsewhere, it has no file and no attempts here.
    arrived = track_from_row(shared)
    assert (arrived.local_path, arrived.last_error, arrived.attempts) == (None, None, 0)


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (library_name, "   ", "empty"),
        (library_name, "x" * 121, "longer than 120"),
        (library_name, "bell\x07", "control characters"),
        (library_name, "\udcff", "UTF-8"),
        (library_type, "podcast", "use one of"),
        (track_title, "", "empty"),
        (library_description, "y" * 1001, "longer than 1000"),
    ],
)
def test_names_and_titles_are_checked(check: object, value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        check(value)  # type: ignore[operator]


def test_clean_values_are_normalised() -> None:
    assert library_name("  Deep   work ") == "Deep work"
    assert library_type(" Ambient ") == "ambient"
    assert library_description("") == ""
    assert track_title("Rain\non \t roof") == "Rain on roof"
