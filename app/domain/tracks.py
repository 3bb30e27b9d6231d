"""Focus music: libraries of tracks, as the reference backend keeps them.

A library's track count is derived (a count over its tracks), never stored as a number that
syncs: two devices adding a track each would lose one. A track's audio lives in object
storage under its content hash; which device holds the file, and how its upload goes, is
the device's own business (`local_path`, `last_error`, `attempts`) and does not sync.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from app.domain.errors import UsageError

MAX_NAME = 120
MAX_DESCRIPTION = 1000
MAX_TRACK_TITLE = 200
LIBRARY_TYPES = ("music", "ambient", "noise", "nature", "other")
DEFAULT_LIBRARY = "Focus music"
DEFAULT_LIBRARY_ID = uuid.UUID("6f637573-0000-4000-8000-6c6962726172")
"""The same on every device of every user (ids are per user), so two devices that each made
the default library before they first synced hold one library, not two of the same name."""


class UploadState(enum.StrEnum):
    PENDING = "pending"
    """Recorded here; the audio is not in object storage yet."""
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    FAILED = "failed"
    """The last attempt failed (see `last_error`); retried by the next upload."""


@dataclass(frozen=True, slots=True)
class Library:
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    created_at: datetime
    updated_at: datetime
    description: str = ""
    library_type: str = "music"
    is_favorite: bool = False
    version: int = 1
    tracks_count: int = 0
    """Derived when read: the tracks it holds now."""


@dataclass(frozen=True, slots=True)
class Track:
    id: uuid.UUID
    user_id: uuid.UUID
    library_id: uuid.UUID
    title: str
    added_at: datetime
    size_bytes: int | None = None
    sha256: str | None = None
    content_type: str | None = None
    duration_seconds: int | None = None
    r2_key: str | None = None
    upload_state: UploadState = UploadState.PENDING
    version: int = 1
    updated_at: datetime | None = None
    local_path: str | None = None
    last_error: str | None = None
    attempts: int = 0


def _clean(text: str, what: str, limit: int, *, empty_ok: bool = False) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} is not valid UTF-8 text") from None
    if any((ord(c) < 32 or ord(c) == 127) and not c.isspace() for c in text):
        raise UsageError(f"{what} has control characters")
    clean = " ".join(text.split())
    if not clean and not empty_ok:
        raise UsageError(f"{what} is empty")
    if len(clean) > limit:
        raise UsageError(f"{what} is longer than {limit} characters")
    return clean


def library_name(name: str) -> str:
    return _clean(name, "a library name", MAX_NAME)


def library_description(text: str) -> str:
    return _clean(text, "a library description", MAX_DESCRIPTION, empty_ok=True)


def library_type(kind: str) -> str:
    clean = kind.strip().lower()
    if clean not in LIBRARY_TYPES:
        raise UsageError(f"library type {kind!r}: use one of {', '.join(LIBRARY_TYPES)}")
    return clean


def track_title(title: str) -> str:
    return _clean(title, "a track title", MAX_TRACK_TITLE)
