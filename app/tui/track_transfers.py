"""Uploads and fetches of track audio in the app: one queue, one transfer at a time.

The queue belongs to the app, not to the tracks screen: leaving the screen never stops a
transfer, and a focus session never waits on one (every network call runs in a worker
thread through `storage.r2`; progress arrives on the event loop). Each finished transfer
is recorded on its track by `TracksService` (state, key, last error, attempts), so a failed
upload is retried by the next `u` or `focus tracks upload`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from app.domain.errors import FocusError
from app.domain.tracks import UploadState
from app.textsafe import visible
from app.tui.errors import describe

if TYPE_CHECKING:
    import uuid
    from pathlib import Path

    from app.domain.tracks import Track
    from app.services.tracks import TracksService
    from storage.r2 import R2

Kind = Literal["upload", "fetch"]
WORKER_GROUP = "track-transfers"


def size_text(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 2**20:
        return f"{size / 2**10:.0f} KB"
    return f"{size / 2**20:.1f} MB"


@dataclass
class Job:
    kind: Kind
    track: Track
    number: int = 1
    """Its place in the current batch (1-based), and the batch's size."""
    of: int = 1
    done: int = 0
    total: int = 0
    state: Literal["queued", "running", "done", "failed"] = "queued"
    message: str = ""
    sent: int = 0
    """Bytes actually sent (an upload the server held already sends 0)."""

    @property
    def title(self) -> str:
        return self.track.title

    def describe(self) -> str:
        """One line for the transfer panel."""
        verb = "Uploading" if self.kind == "upload" else "Fetching"
        place = f" ({self.number} of {self.of})" if self.of > 1 else ""
        if self.state == "running":
            total = self.total or self.track.size_bytes or 0
            return f"{verb} {self.title}{place} · {size_text(self.done)} / {size_text(total)}"
        if self.state == "failed":
            what = "Upload" if self.kind == "upload" else "Fetch"
            return f"{what} of {self.title} failed: {self.message}"
        if self.state == "done":
            return self.message
        return f"{verb} {self.title}{place}: waiting"


class TransferHost(Protocol):
    """What the queue needs of the app (`MusicApp`)."""

    def tracks_service(self) -> TracksService | None: ...

    def r2_store(self) -> R2: ...

    def cache_dir(self) -> Path: ...

    def transfer_progress(self, job: Job) -> None: ...

    def transfer_finished(self, job: Job, more: bool) -> None: ...

    def run_transfers(self) -> None: ...


class Transfers:
    """The queue of uploads and fetches; `run()` is the app's worker that drains it."""

    def __init__(self, host: TransferHost) -> None:
        self.host = host
        self.waiting: list[Job] = []
        self.current: Job | None = None
        self.last: Job | None = None
        self.running = False
        self._batch = 0

    def add(self, kind: Kind, tracks: list[Track]) -> int:
        """Queue `tracks` (those not queued or running already); how many were queued."""
        busy = {(j.kind, j.track.id) for j in self.waiting}
        if self.current is not None:
            busy.add((self.current.kind, self.current.track.id))
        fresh = [t for t in tracks if (kind, t.id) not in busy]
        for track in fresh:
            self._batch += 1
            self.waiting.append(Job(kind, track, number=self._batch))
        for job in self.waiting:
            job.of = self._batch
        if fresh and not self.running:
            self.running = True
            self.host.run_transfers()
        return len(fresh)

    def queued(self, track_id: uuid.UUID) -> Job | None:
        for job in ([self.current] if self.current else []) + self.waiting:
            if job.track.id == track_id:
                return job
        return None

    async def run(self) -> None:
        try:
            while self.waiting:
                job = self.waiting.pop(0)
                self.current = job
                job.state = "running"
                try:
                    await self._one(job)
                except Exception as exc:  # said on the job; the queue goes on
                    job.state, job.message = "failed", describe(exc)[1]
                self.current, self.last = None, job
                self.host.transfer_finished(job, bool(self.waiting))
        finally:
            self.running, self.current = False, None
            if not self.waiting:
                self._batch = 0

    async def _one(self, job: Job) -> None:
        tracks = self.host.tracks_service()
        if tracks is None:
            raise FocusError("the database is not open yet")
        store = self.host.r2_store()  # ConfigError (one line) when [r2] is not set
        track = await tracks.track(str(job.track.id))  # as it is now
        job.track = track
        job.total = track.size_bytes or 0

        def progress(done: int, total: int) -> None:
            job.done, job.total = done, total
            self.host.transfer_progress(job)

        if job.kind == "upload":
            if track.upload_state is UploadState.UPLOADED:
                job.state, job.message = "done", f"{track.title} is uploaded already"
                return
            if not tracks.is_here(track):
                raise FocusError(f"{track.title}: its file is not on this device any more")
            done, result = await tracks.upload(store, track, progress)
            job.track, job.sent = done, result.sent_bytes
            how = "already on R2, 0 bytes sent" if result.deduplicated else size_text(result.size)
            job.state, job.message = "done", f"Uploaded {track.title} ({how})"
            return
        if tracks.is_here(track):
            job.state, job.message = "done", f"{track.title} is on this device already"
            return
        fetched, size = await tracks.fetch(store, track, self.host.cache_dir(), progress)
        job.track, job.sent = fetched, size
        job.state, job.message = "done", f"Fetched {track.title} ({size_text(size)})"


class TransferPanel(Vertical):
    """The current (or last) transfer on the tracks screen: a line and a progress bar."""

    DEFAULT_CSS = """
    TransferPanel { height: auto; padding: 0 1; display: none; }
    TransferPanel.-shown { display: block; }
    TransferPanel #transfer-text { width: 100%; height: 1; }
    TransferPanel.-failed #transfer-text { color: $warning; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="transfer-text", markup=False)
        yield ProgressBar(total=None, show_eta=False, id="transfer-bar")

    def show(self, job: Job) -> None:
        self.add_class("-shown")
        self.set_class(job.state == "failed", "-failed")
        self.query_one("#transfer-text", Label).update(visible(job.describe()))
        bar = self.query_one("#transfer-bar", ProgressBar)
        if job.state == "running" and job.total:
            bar.update(total=job.total, progress=job.done)
        elif job.state == "running":
            bar.update(total=None)
