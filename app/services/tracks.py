"""Focus music: libraries and their tracks, each operation one transaction that syncs.

A file is checked before anything is recorded: it exists, is a regular readable file,
within `[tracks] max_file_mb`, and its content is audio (mutagen reads it), not only its
name. Its sha256 is streamed in chunks. The upload to object storage happens later
(`focus tracks upload`); a failed upload is recorded on the track and retried, and never
touches a session.
"""

from __future__ import annotations

import asyncio
import os
import stat
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.clock import Clock
from app.domain.errors import FocusError, NotFoundError, RefusedError, UsageError
from app.domain.tracks import (
    DEFAULT_LIBRARY,
    DEFAULT_LIBRARY_ID,
    Library,
    Track,
    UploadState,
    library_description,
    library_name,
    library_type,
    track_title,
)
from storage import track_store
from storage.sql import SqlRepository

if TYPE_CHECKING:
    from collections.abc import Callable

    from storage.r2 import R2, UploadResult

    Meter = Callable[[int, int], None]


def audio_facts(path: Path) -> tuple[str, int | None, str | None]:
    """(content type, duration in whole seconds or None, title from its tags or None);
    UsageError when the content is not audio mutagen recognises."""
    import mutagen

    try:
        found: Any = mutagen.File(path)
    except Exception as exc:  # mutagen raises many kinds for a file that is not audio
        raise UsageError(f"{path}: not an audio file ({exc.__class__.__name__})") from None
    if found is None or getattr(found, "info", None) is None:
        raise UsageError(f"{path}: not an audio file its content names (mp3, ogg, flac, wav...)")
    mimes = list(getattr(found, "mime", []) or [])
    kind = next((m for m in mimes if m.startswith("audio/")), "audio/octet-stream")
    length = getattr(found.info, "length", None)
    duration = round(length) if isinstance(length, int | float) and length > 0 else None
    title = None
    try:
        easy: Any = mutagen.File(path, easy=True)
        values = easy.tags.get("title") if easy is not None and easy.tags else None
        title = str(values[0]).strip() if values else None
    except Exception:  # tags are a nicety: a file without readable ones keeps its name
        title = None
    return kind, duration, title or None


def checked_file(path: Path, max_bytes: int) -> int:
    """The file's size; UsageError (one line) when it cannot be a track."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: is a directory, not an audio file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: not readable")
    if info.st_size == 0:
        raise UsageError(f"{path}: is empty")
    if info.st_size > max_bytes:
        raise UsageError(
            f"{path}: {info.st_size / 2**20:.1f} MB, over [tracks] max_file_mb "
            f"({max_bytes // 2**20} MB)"
        )
    return info.st_size


def inspect_file(path: Path, max_bytes: int) -> tuple[int, str, int | None, str | None, str, str]:
    """Everything `add_track` records of a file (blocking: run it in a thread): size,
    content type, duration, tagged title, sha256, absolute path."""
    from storage.r2 import hash_file

    size = checked_file(path, max_bytes)
    kind, duration, tagged = audio_facts(path)
    sha, hashed = hash_file(path)
    if hashed != size:
        raise UsageError(f"{path}: changed while it was read; try again")
    return size, kind, duration, tagged, sha, str(path.resolve())


class TracksService:
    def __init__(self, repo: SqlRepository, clock: Clock) -> None:
        self.repo = repo
        self.clock = clock

    @property
    def _uid(self) -> uuid.UUID:
        return self.repo.identity.user_id

    # -- libraries ------------------------------------------------------------------------

    async def libraries(self) -> list[Library]:
        return await track_store.libraries(self.repo.conn, self._uid)

    async def library(self, name: str) -> Library:
        wanted = library_name(name)
        found = await self.libraries()
        for lib in found:
            if lib.name == wanted:
                return lib
        for lib in found:
            if lib.name.casefold() == wanted.casefold():
                return lib
        raise NotFoundError(f"no library named {wanted!r} (see focus libraries list)")

    async def create_library(
        self, name: str, description: str = "", kind: str = "music", ident: uuid.UUID | None = None
    ) -> Library:
        clean = library_name(name)
        if any(x.name.casefold() == clean.casefold() for x in await self.libraries()):
            raise RefusedError(f"a library named {clean!r} exists already")
        now = self.clock.now()
        lib = Library(
            ident or uuid.uuid4(),
            self._uid,
            clean,
            now,
            now,
            library_description(description),
            library_type(kind),
        )
        async with self.repo.transaction() as tx:
            await track_store.insert_library(tx, lib)
            await tx.commit()
        return lib

    async def default_library(self) -> Library:
        for lib in await self.libraries():
            if lib.id == DEFAULT_LIBRARY_ID:
                return lib
        try:
            return await self.create_library(DEFAULT_LIBRARY, ident=DEFAULT_LIBRARY_ID)
        except RefusedError:  # made meanwhile (another process), or the name is taken
            return await self.library(DEFAULT_LIBRARY)

    async def _change(self, before: Library, **changes: Any) -> Library:
        after = replace(
            before, version=before.version + 1, updated_at=self._after(before.updated_at), **changes
        )
        async with self.repo.transaction() as tx:
            await track_store.update_library(tx, before, after)
            await tx.commit()
        return after

    def _after(self, earlier: datetime) -> datetime:
        return max(self.clock.now(), earlier)

    async def rename_library(self, old: str, new: str) -> Library:
        lib, clean = await self.library(old), library_name(new)
        taken = [x for x in await self.libraries() if x.name.casefold() == clean.casefold()]
        if any(x.id != lib.id for x in taken):
            raise RefusedError(f"a library named {clean!r} exists already")
        return await self._change(lib, name=clean)

    async def toggle_favorite(self, name: str) -> Library:
        lib = await self.library(name)
        return await self._change(lib, is_favorite=not lib.is_favorite)

    async def delete_library(self, name: str) -> Library:
        """The library and its tracks (the cascade), in one transaction."""
        lib = await self.library(name)
        async with self.repo.transaction() as tx:
            if not await track_store.delete(tx, "library", lib.id, self.clock.now()):
                raise NotFoundError(f"no library named {lib.name!r}")
            await tx.commit()
        return lib

    # -- tracks ---------------------------------------------------------------------------

    async def tracks(self, library: str | None = None) -> list[Track]:
        lib_id = (await self.library(library)).id if library else None
        return await track_store.tracks(self.repo.conn, self._uid, lib_id)

    async def track(self, ident: str) -> Track:
        """A track by its id, or the unique start of one (as `tracks list` shows it)."""
        wanted = ident.strip().lower()
        if len(wanted) < 4:
            raise UsageError("give at least the first 4 characters of the track id")
        found = [t for t in await self.tracks() if str(t.id).startswith(wanted)]
        if not found:
            raise NotFoundError(f"no track {ident!r} (see focus tracks list)")
        if len(found) > 1:
            raise UsageError(f"{ident!r} names {len(found)} tracks: give more of the id")
        return found[0]

    async def add_track(
        self, path: Path, title: str | None, library: str | None, max_bytes: int
    ) -> Track:
        """Check and record the file; its upload is queued (state pending)."""
        size, kind, duration, tagged, sha, where = await asyncio.to_thread(
            inspect_file, path, max_bytes
        )
        name = track_title(title if title is not None else (tagged or path.stem or path.name))
        lib = await self.library(library) if library else await self.default_library()
        now = self.clock.now()
        track = Track(
            uuid.uuid4(),
            self._uid,
            lib.id,
            name,
            now,
            size_bytes=size,
            sha256=sha,
            content_type=kind,
            duration_seconds=duration,
            updated_at=now,
            local_path=where,
        )
        async with self.repo.transaction() as tx:
            await track_store.insert_track(tx, track)
            await tx.commit()
        return track

    async def remove_track(self, ident: str) -> Track:
        track = await self.track(ident)
        async with self.repo.transaction() as tx:
            await track_store.delete(tx, "track", track.id, self.clock.now())
            await tx.commit()
        return track

    async def record(self, before: Track, **changes: Any) -> Track:
        """A track's new upload state (synced when it changes what every device sees)."""
        synced = {"r2_key", "upload_state"} & set(changes)
        after = replace(before, **changes)
        if synced and any(getattr(after, k) != getattr(before, k) for k in synced):
            after = replace(
                after,
                version=before.version + 1,
                updated_at=self._after(before.updated_at or before.added_at),
            )
        async with self.repo.transaction() as tx:
            await track_store.update_track(tx, before, after)
            await tx.commit()
        return after

    async def pending_uploads(self) -> list[Track]:
        return [
            t
            for t in await self.tracks()
            if t.upload_state is not UploadState.UPLOADED and t.local_path
        ]

    async def upload(
        self, store: R2, track: Track, progress: Meter | None = None
    ) -> tuple[Track, UploadResult]:
        """Send one pending track; the outcome (state, key, error, attempts) is recorded.

        A failure is recorded on the track and raised again: the caller says so and goes
        on; nothing else (no session, no other track) depends on it.
        """
        try:
            result = await store.upload(
                self.repo,
                track.user_id,
                Path(track.local_path or ""),
                track.sha256 or "",
                track.size_bytes or 0,
                track.content_type or "application/octet-stream",
                progress,
            )
        except FocusError as exc:
            await self.record(
                track,
                upload_state=UploadState.FAILED,
                last_error=str(exc)[:500],
                attempts=track.attempts + 1,
            )
            raise
        done = await self.record(
            track,
            upload_state=UploadState.UPLOADED,
            r2_key=result.key,
            last_error=None,
            attempts=track.attempts + 1,
        )
        return done, result

    @staticmethod
    def is_here(track: Track) -> bool:
        """The track's audio is on this device (added here, or fetched)."""
        return bool(track.local_path) and Path(track.local_path or "").is_file()

    async def fetch(
        self, store: R2, track: Track, cache: Path, progress: Meter | None = None
    ) -> tuple[Track, int]:
        """Download an uploaded track into `cache` (named by its sha256, hash verified)."""
        if track.upload_state is not UploadState.UPLOADED or not track.sha256:
            raise RefusedError(f"{track.title!r} is not uploaded yet (by the device that added it)")
        await asyncio.to_thread(cache.mkdir, parents=True, exist_ok=True)
        dest = cache / track.sha256
        size = await store.download(track.user_id, track.sha256, dest, progress)
        return await self.record(track, local_path=str(dest)), size
