"""`focus libraries` and `focus tracks`: focus music, its libraries, uploads and downloads."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.context import emit, say, with_store
from app.domain.errors import FocusError, UsageError
from app.domain.tracks import Library, Track, UploadState

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.services.tracks import TracksService


def _service(app: Container) -> TracksService:
    from app.services.tracks import TracksService

    return TracksService(app.repo, app.clock)


def library_dict(lib: Library) -> dict[str, Any]:
    return {
        "id": str(lib.id),
        "name": lib.name,
        "description": lib.description,
        "type": lib.library_type,
        "favorite": lib.is_favorite,
        "tracks": lib.tracks_count,
        "created_at": lib.created_at.isoformat(),
        "updated_at": lib.updated_at.isoformat(),
    }


def track_dict(t: Track) -> dict[str, Any]:
    return {
        "id": str(t.id),
        "library_id": str(t.library_id),
        "title": t.title,
        "size_bytes": t.size_bytes,
        "sha256": t.sha256,
        "content_type": t.content_type,
        "duration_seconds": t.duration_seconds,
        "r2_key": t.r2_key,
        "upload_state": t.upload_state.value,
        "local_path": t.local_path,
        "last_error": t.last_error,
        "attempts": t.attempts,
        "added_at": t.added_at.isoformat(),
    }


def _mb(size: int | None) -> str:
    """A size as people read it: bytes, KB or MB (a 48 KB file is not "0.0 MB")."""
    if size is None:
        return "?"
    if size < 1024:
        return f"{size} B"
    if size < 2**20:
        return f"{size / 1024:.0f} KB"
    return f"{size / 2**20:.1f} MB"


def _duration(seconds: int | None) -> str:
    return "--:--" if seconds is None else f"{seconds // 60}:{seconds % 60:02d}"


# -- libraries ------------------------------------------------------------------------------


def libraries(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _libraries_list(args)
    if not args.name:
        raise UsageError(f"libraries {args.action} needs a library NAME")
    return _libraries_change(args)


@with_store(readonly=True)
async def _libraries_list(args: argparse.Namespace, app: Container) -> None:
    found = await _service(app).libraries()
    lines = [
        f"{'*' if x.is_favorite else ' '} {x.name}  ({x.library_type}, {x.tracks_count} "
        f"track{'s' if x.tracks_count != 1 else ''})"
        for x in found
    ]
    emit(args, {"libraries": [library_dict(x) for x in found]}, "\n".join(lines) or "No libraries.")


@with_store(readonly=False)
async def _libraries_change(args: argparse.Namespace, app: Container) -> None:
    svc = _service(app)
    if args.action == "create":
        lib = await svc.create_library(args.name, args.description, args.type)
        text = f"Created library {lib.name!r}."
    elif args.action == "rename":
        if args.new is None:
            raise UsageError("rename needs the old and the new name")
        lib = await svc.rename_library(args.name, args.new)
        text = f"Renamed to {lib.name!r}."
    elif args.action == "delete":
        lib = await svc.delete_library(args.name)
        text = f"Deleted library {lib.name!r} and its {lib.tracks_count} track(s)."
    else:
        lib = await svc.toggle_favorite(args.name)
        text = f"{lib.name!r} is {'now' if lib.is_favorite else 'no longer'} a favourite."
    emit(args, {"library": library_dict(lib)}, text)


# -- tracks ---------------------------------------------------------------------------------


def tracks(args: argparse.Namespace) -> int:
    handlers = {
        "add": _add,
        "list": _list,
        "remove": _remove,
        "upload": _upload,
        "fetch": _fetch,
    }
    return handlers[args.action](args)


@with_store(readonly=False, network=True)
async def _add(args: argparse.Namespace, app: Container) -> None:
    if not args.target:
        raise UsageError("tracks add needs a FILE")
    max_bytes = app.settings.tracks.max_file_mb * 2**20
    track = await _service(app).add_track(Path(args.target), args.title, args.library, max_bytes)
    emit(
        args,
        {"track": track_dict(track)},
        f"Added {track.title!r} ({_mb(track.size_bytes)}, {track.content_type}, "
        f"{_duration(track.duration_seconds)}); `focus tracks upload` sends it. "
        f"id {str(track.id)[:8]}",
    )


@with_store(readonly=True)
async def _list(args: argparse.Namespace, app: Container) -> None:
    found = await _service(app).tracks(args.library)
    lines = [
        f"{str(t.id)[:8]}  {t.title}  {_duration(t.duration_seconds)}  {_mb(t.size_bytes)}  "
        f"{t.upload_state.value}{'' if t.local_path else ' (not on this device)'}"
        for t in found
    ]
    emit(args, {"tracks": [track_dict(t) for t in found]}, "\n".join(lines) or "No tracks.")


@with_store(readonly=False)
async def _remove(args: argparse.Namespace, app: Container) -> None:
    if not args.target:
        raise UsageError("tracks remove needs a track ID (see focus tracks list)")
    track = await _service(app).remove_track(args.target)
    emit(args, {"track": track_dict(track)}, f"Removed {track.title!r}.")


class _Meter:
    """A progress line on stderr for a terminal, throttled; nothing otherwise."""

    def __init__(self, title: str, quiet: bool) -> None:
        self.title = title
        self.show = not quiet and sys.stderr is not None and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.show or (now - self.last < 0.1 and done < total):
            return
        self.last = now
        width = 30
        filled = width * done // total if total else width
        sys.stderr.write(
            f"\r{self.title[:30]:30} [{'#' * filled}{'.' * (width - filled)}] "
            f"{_mb(done)} / {_mb(total)}"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@with_store(readonly=False, network=True)
async def _upload(args: argparse.Namespace, app: Container) -> None:
    from app.bootstrap import r2_settings
    from storage.r2 import R2

    svc = _service(app)
    store = R2(r2_settings(app.settings), clock=app.clock)
    results: list[dict[str, Any]] = []
    failed = 0
    try:
        for track in await svc.pending_uploads():
            try:
                _, result = await svc.upload(
                    store, track, _Meter(track.title, getattr(args, "json", False))
                )
            except FocusError as exc:
                failed += 1
                say(f"upload of {track.title!r} failed: {exc}")
                results.append({"id": str(track.id), "error": str(exc)})
                continue
            results.append(
                {
                    "id": str(track.id),
                    "key": result.key,
                    "sent_bytes": result.sent_bytes,
                    "deduplicated": result.deduplicated,
                    "resumed_parts": result.resumed_parts,
                }
            )
    finally:
        store.close()
    sent = sum(int(r.get("sent_bytes", 0)) for r in results)
    done = sum(1 for r in results if "key" in r)
    emit(
        args,
        {"uploads": results, "uploaded": done, "failed": failed, "sent_bytes": sent},
        f"uploaded {done}, failed {failed}; {_mb(sent)} sent" if results else "Nothing to upload.",
    )
    if failed:
        raise _Failed()


class _Failed(FocusError):
    """Some uploads failed (each named above); exit 1."""

    def __init__(self) -> None:
        super().__init__("some uploads failed; `focus tracks upload` retries them")


@with_store(readonly=False, network=True)
async def _fetch(args: argparse.Namespace, app: Container) -> None:
    from app.bootstrap import r2_settings
    from storage.r2 import R2

    svc = _service(app)
    if args.all == bool(args.target):
        raise UsageError("tracks fetch needs a track ID, or --all")
    wanted = await svc.tracks() if args.all else [await svc.track(args.target)]
    wanted = [t for t in wanted if not svc.is_here(t)]
    cache = app.db_path.parent / "tracks"
    store = R2(r2_settings(app.settings), clock=app.clock)
    fetched: list[dict[str, Any]] = []
    try:
        for track in wanted:
            if track.upload_state is not UploadState.UPLOADED or not track.sha256:
                say(f"{track.title!r} is not uploaded yet (by the device that added it)")
                continue
            done, size = await svc.fetch(
                store, track, cache, _Meter(track.title, getattr(args, "json", False))
            )
            fetched.append({"id": str(track.id), "path": done.local_path, "bytes": size})
    finally:
        store.close()
    emit(
        args,
        {"fetched": fetched},
        "\n".join(f"{f['path']} ({_mb(f['bytes'])})" for f in fetched) or "Nothing to fetch.",
    )
