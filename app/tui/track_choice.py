"""Which track plays during focus on this device: a device's own choice, never synced.

On the local SQLite store it is kept in the store's `meta` table (the store is this
device's). A Postgres store (`[storage] url`) is shared by the user's devices, and its
client role may not write `meta`: there the choice is kept in a small JSON file in the
data folder, per user, written atomically (a temporary file, then `os.replace`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.paths import user_dir

if TYPE_CHECKING:
    from storage.sql import SqlRepository

META_KEY = "focus_track"
STATE_FILE = "state.json"
"""In the data folder: {"focus_track": {"<user id>": "<track id>"}}."""


def state_path() -> Path:
    return Path(user_dir("data")) / STATE_FILE


def on_device_store(repo: SqlRepository) -> bool:
    """The store is this device's own SQLite file (with its outbox and `meta`)."""
    from storage.outbox import OutboxRecorder

    return isinstance(repo.recorder, OutboxRecorder)


def _as_uuid(value: Any) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _read_state(path: Path) -> dict[str, Any]:
    """The state file's content; an absent, unreadable or damaged file reads as empty."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(state, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class TrackChoice:
    """Reads and records this device's focus track for the store's user."""

    def __init__(self, repo: SqlRepository, path: Path | None = None) -> None:
        self.repo = repo
        self.in_meta = on_device_store(repo)
        self.path = path or state_path()

    @property
    def _user(self) -> str:
        return str(self.repo.identity.user_id)

    async def read(self) -> uuid.UUID | None:
        if self.in_meta:
            rows = await self.repo.conn.fetch(
                "SELECT value FROM meta WHERE key = :key", {"key": META_KEY}
            )
            return _as_uuid(rows[0][0]) if rows else None
        state = await asyncio.to_thread(_read_state, self.path)
        chosen = state.get(META_KEY)
        return _as_uuid(chosen.get(self._user)) if isinstance(chosen, dict) else None

    async def write(self, track: uuid.UUID | None) -> None:
        if self.in_meta:
            from storage.outbox import set_meta

            async with self.repo.transaction(local=False) as tx:
                await set_meta(tx.conn, META_KEY, str(track) if track else "")
                await tx.commit()
            return
        await asyncio.to_thread(self._write_file, track)

    def _write_file(self, track: uuid.UUID | None) -> None:
        state = _read_state(self.path)
        chosen = state.get(META_KEY)
        chosen = dict(chosen) if isinstance(chosen, dict) else {}
        if track is None:
            chosen.pop(self._user, None)
        else:
            chosen[self._user] = str(track)
        state[META_KEY] = chosen
        _write_state(self.path, state)
