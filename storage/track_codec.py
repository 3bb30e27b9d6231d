"""Libraries and tracks as rows, and which of their columns sync.

A library syncs whole (but its derived track count). A track syncs what every device of
the user shares (title, content hash, object key, upload state); where this device keeps
the file and how its own upload attempts went stay here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.domain.tracks import Library, Track, UploadState

LIBRARY_COLUMNS = (
    "id",
    "user_id",
    "name",
    "description",
    "library_type",
    "is_favorite",
    "version",
    "created_at",
    "updated_at",
)
TRACK_SYNCED = (
    "id",
    "user_id",
    "library_id",
    "title",
    "size_bytes",
    "sha256",
    "content_type",
    "duration_seconds",
    "r2_key",
    "upload_state",
    "version",
    "added_at",
    "updated_at",
)
TRACK_LOCAL = ("local_path", "last_error", "attempts")
TRACK_COLUMNS = TRACK_SYNCED + TRACK_LOCAL


def library_to_row(lib: Library) -> dict[str, Any]:
    return {c: getattr(lib, c) for c in LIBRARY_COLUMNS}


def library_from_row(r: Mapping[str, Any], tracks_count: int = 0) -> Library:
    return Library(
        id=r["id"],
        user_id=r["user_id"],
        name=str(r["name"]),
        description=str(r["description"] or ""),
        library_type=str(r["library_type"]),
        is_favorite=bool(r["is_favorite"]),
        version=int(r["version"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        tracks_count=tracks_count,
    )


def track_to_row(t: Track, *, synced_only: bool = False) -> dict[str, Any]:
    row = {c: getattr(t, c) for c in (TRACK_SYNCED if synced_only else TRACK_COLUMNS)}
    row["upload_state"] = t.upload_state.value
    return row


def track_from_row(r: Mapping[str, Any]) -> Track:
    def number(key: str) -> int | None:
        value = r.get(key)
        return None if value is None else int(value)

    return Track(
        id=r["id"],
        user_id=r["user_id"],
        library_id=r["library_id"],
        title=str(r["title"]),
        added_at=r["added_at"],
        size_bytes=number("size_bytes"),
        sha256=r.get("sha256"),
        content_type=r.get("content_type"),
        duration_seconds=number("duration_seconds"),
        r2_key=r.get("r2_key"),
        upload_state=UploadState(r.get("upload_state") or "pending"),
        version=int(r["version"]),
        updated_at=r.get("updated_at"),
        local_path=r.get("local_path"),
        last_error=r.get("last_error"),
        attempts=int(r.get("attempts") or 0),
    )
