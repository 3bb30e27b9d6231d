"""The demo's second half: a second device syncing through Postgres, a track uploaded to S3.

Each function plays one part against the demo's throwaway servers and reports every step
through `step(name, text, **outcome)`, the outcome read back from the servers themselves
(rows in Postgres, the object's HEAD), so what the demo says is what they hold.
"""

from __future__ import annotations

import array
import math
import uuid
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.demo_servers import ObjectStore, Postgres
    from app.domain.models import Session
    from storage.sync import SyncReport


class Step(Protocol):
    def __call__(self, name: str, text: str, /, **outcome: Any) -> None: ...


Meter = Callable[[int, int], None]

TONE_SECONDS = 6
TONE_RATE = 44_100


def write_tone(path: Path, seconds: int = TONE_SECONDS, hz: float = 440.0) -> int:
    """A stereo 16-bit WAV of a sine tone (about 1 MB for 6 s); its size in bytes."""
    frames = seconds * TONE_RATE
    samples = array.array("h")
    for i in range(frames):
        value = int(12_000 * math.sin(2 * math.pi * hz * i / TONE_RATE))
        samples.extend((value, value))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(TONE_RATE)
        out.writeframes(samples.tobytes())
    return path.stat().st_size


async def server_rows(admin_url: str, user_id: str) -> dict[str, Any]:
    """What the server holds for the user: session ids (oldest first) and tracks."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        uid = uuid.UUID(user_id)
        ids = await conn.fetch(
            "SELECT id FROM sessions WHERE user_id = $1 ORDER BY started_at, id", uid
        )
        tracks = await conn.fetch(
            "SELECT upload_state, r2_key FROM tracks WHERE user_id = $1 ORDER BY added_at, id", uid
        )
    finally:
        await conn.close()
    return {
        "sessions": [str(r["id"]) for r in ids],
        "tracks": [{"upload_state": r["upload_state"], "r2_key": r["r2_key"]} for r in tracks],
    }


async def device_sessions(app: Container) -> list[Session]:
    found = [s async for s in app.service.iter_all()]
    return sorted(found, key=lambda s: (s.started_at, str(s.id)))


def _report(r: SyncReport) -> dict[str, Any]:
    return {
        "pushed": r.pushed,
        "pulled": r.pulled,
        "rejected": len(r.rejected),
        "pending": r.pending,
        "round_trips": r.round_trips,
        "adopted": r.adopted,
    }


async def play_sync(first: Container, second: Container, pg: Postgres, step: Step) -> bool:
    """This device pushes, the second device pulls; True when both histories are equal."""
    from storage.sync import SyncTarget, sync

    target = SyncTarget(pg.user["sync_url"])
    uid = pg.user["user_id"]
    pushed = await sync(first.repo, target, first.clock.now())
    rows = await server_rows(pg.admin_url, uid)
    step(
        "sync push",
        f"This device synced as {pg.user['role']}: pushed {pushed.pushed} changes in "
        f"{pushed.round_trips} round trips; the server holds {len(rows['sessions'])} sessions.",
        sync=_report(pushed),
        server_sessions=len(rows["sessions"]),
        server_session_ids=rows["sessions"],
    )
    pulled = await sync(second.repo, target, second.clock.now())
    step(
        "sync pull",
        f"A second device of the same user (its own SQLite file) synced: pulled "
        f"{pulled.pulled} changes.",
        sync=_report(pulled),
    )
    mine = [str(s.id) for s in await device_sessions(first)]
    theirs = [str(s.id) for s in await device_sessions(second)]
    rows = await server_rows(pg.admin_url, uid)
    equal: bool = mine == theirs == rows["sessions"]
    short = ", ".join(i[:8] for i in mine)
    step(
        "histories",
        f"Both devices and the server hold the same {len(mine)} sessions ({short})"
        if equal
        else f"The histories differ: this device {len(mine)}, the other {len(theirs)}, "
        f"the server {len(rows['sessions'])}",
        equal=equal,
        device_sessions=len(mine),
        second_device_sessions=len(theirs),
        server_sessions=len(rows["sessions"]),
        device_session_ids=mine,
        second_device_session_ids=theirs,
        server_session_ids=rows["sessions"],
    )
    return equal


async def play_upload(
    app: Container,
    folder: Path,
    s3: ObjectStore,
    pg: Postgres | None,
    step: Step,
    progress: Meter,
) -> None:
    """A generated WAV added and uploaded (progress), then the same file again (0 bytes)."""
    from app.services.tracks import TracksService
    from storage.r2 import R2, R2Settings

    tone = folder / "demo-tone.wav"
    size = write_tone(tone)
    tracks = TracksService(app.repo, app.clock)
    max_bytes = app.settings.tracks.max_file_mb * 2**20
    track = await tracks.add_track(tone, "Demo tone", None, max_bytes)
    step(
        "track add",
        f"Added {tone.name} ({size / 1024:.0f} KiB, {track.duration_seconds} s of a 440 Hz "
        f"tone) as track {str(track.id)[:8]}: upload {track.upload_state.value}.",
        track_id=str(track.id),
        size=track.size_bytes,
        sha256=track.sha256,
        upload_state=track.upload_state.value,
    )
    store = R2(
        R2Settings(
            bucket=s3.bucket,
            access_key_id="demo",
            secret_access_key="demo",
            endpoint_url=s3.endpoint,
        ),
        clock=app.clock,
    )
    seen: list[list[int]] = []

    def meter(done: int, total: int) -> None:
        seen.append([done, total])
        progress(done, total)

    track, result = await tracks.upload(store, track, meter)
    head = await store.stat(track.user_id, track.sha256 or "")
    step(
        "upload",
        f"Uploaded to s3://{s3.bucket}/{result.key}: {result.sent_bytes} bytes sent; "
        f"the server holds {head} bytes.",
        key=result.key,
        size=result.size,
        sent_bytes=result.sent_bytes,
        deduplicated=result.deduplicated,
        head_content_length=head,
        progress=seen,
        upload_state=track.upload_state.value,
    )
    seen = []
    again = await tracks.add_track(tone, "Demo tone (again)", None, max_bytes)
    again, result = await tracks.upload(store, again, meter)
    head = await store.stat(again.user_id, again.sha256 or "")
    step(
        "dedupe",
        f"The same file added again uploads {result.sent_bytes} bytes: the server holds "
        f"that content already ({result.key}).",
        track_id=str(again.id),
        key=result.key,
        size=result.size,
        sent_bytes=result.sent_bytes,
        deduplicated=result.deduplicated,
        head_content_length=head,
        progress=seen,
        upload_state=again.upload_state.value,
    )
    if pg is None:
        return
    from storage.sync import SyncTarget, sync

    report = await sync(app.repo, SyncTarget(pg.user["sync_url"]), app.clock.now())
    rows = await server_rows(pg.admin_url, pg.user["user_id"])
    states = [t["upload_state"] for t in rows["tracks"]]
    step(
        "tracks synced",
        f"Synced again: the server lists {len(states)} tracks ({', '.join(states)}).",
        sync=_report(report),
        server_tracks=rows["tracks"],
    )
