"""Uploads (once per content hash, multipart ones resumable) and verified downloads.

A multipart upload's id and each part R2 acknowledged are committed to the device's SQLite
store (`uploads`, `upload_parts`) as they happen: an upload killed at any point resumes,
reconciled with the server's ListParts, sending only what the server does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.domain.errors import DamagedError
from storage.r2.calls import (
    Client,
    Clock,
    Progress,
    R2Settings,
    Slice,
    UtcClock,
    Vanished,
    check_key,
    object_key,
    part_size_for,
)
from storage.r2.state import Upload, UploadState
from storage.sql import SqlRepository

READ_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class UploadResult:
    key: str
    size: int
    sent_bytes: int
    """Payload bytes of the parts (or the single PUT) acknowledged in this call."""
    deduplicated: bool
    """The server held the object already (same size): nothing was sent."""
    resumed_parts: int
    """Parts reused from an earlier attempt (recorded here, or found by ListParts)."""
    parts: int
    """0 for a single PUT."""


def _damaged(message: str) -> DamagedError:
    return DamagedError(message, title="Track damaged")


class R2:
    """The track store: one shared boto3 client, every call in a worker thread."""

    def __init__(self, settings: R2Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self._client = Client(settings)
        self._clock: Clock = clock or UtcClock()

    async def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        return await asyncio.to_thread(self._client.call, what, fn)

    async def _head(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        bucket = self.settings.bucket

        def head(s3: Any) -> int | None:
            try:
                return int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404 or exc.response.get("Error", {}).get("Code") in (
                    "404",
                    "NoSuchKey",
                    "NotFound",
                ):
                    return None
                raise

        result: int | None = await self._call("HEAD", head)
        return result

    async def stat(self, user_id: uuid.UUID, sha256: str) -> int | None:
        """The stored object's size, or None when absent (a HEAD)."""
        key = object_key(user_id, sha256)
        check_key(key, user_id)
        return await self._head(key)

    async def upload(
        self,
        repo: SqlRepository,
        user_id: uuid.UUID,
        path: Path,
        sha256: str,
        size: int,
        content_type: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> UploadResult:
        """Store the file under its content hash unless R2 holds it already."""
        key = object_key(user_id, sha256)
        check_key(key, user_id)
        state = UploadState(repo, user_id, sha256)
        meter = Progress(size, progress, asyncio.get_running_loop())
        if await self._head(key) == size:
            await self._drop_stale(state, key)
            meter.finish()
            return UploadResult(key, size, 0, True, 0, 0)
        actual = (await asyncio.to_thread(path.stat)).st_size
        if actual != size:
            raise _damaged(f"{path.name} changed since it was hashed ({actual} != {size} bytes)")
        part = part_size_for(size, self.settings.part_size_mb)
        if size < part:
            await self._drop_stale(state, key)
            await self._put(key, path, sha256, size, content_type, meter)
            result = UploadResult(key, size, size, False, 0, 0)
        else:
            result = await self._multipart(state, key, path, size, part, content_type, meter)
        stored = await self._head(key)
        if stored != size:
            raise _damaged(f"R2 holds {stored} bytes for {key}, expected {size}")
        meter.finish()
        return result

    async def _drop_stale(self, state: UploadState, key: str) -> None:
        """An upload recorded for content no longer sent this way: abort it, forget it."""
        found = await state.load()
        if found is not None:
            await self._abort(found[0], found[1])
            await state.forget()

    async def _abort(self, key: str, upload_id: str) -> None:
        bucket = self.settings.bucket
        with contextlib.suppress(Exception):
            await self._call(
                "abort",
                lambda s3: s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
            )

    async def _put(
        self, key: str, path: Path, sha: str, size: int, content_type: str, meter: Progress
    ) -> None:
        bucket = self.settings.bucket

        def put(s3: Any) -> None:
            with Slice(path, 0, size, lambda pos: meter.live(0, pos)) as body:
                s3.put_object(
                    Bucket=bucket,
                    Key=key,
                    Body=body,
                    ContentLength=size,
                    ContentType=content_type,
                    Metadata={"sha256": sha},
                )

        await self._call("PUT", put)
        meter.done(size)

    async def _resume(self, state: UploadState, key: str, size: int, part: int) -> Upload | None:
        """The recorded upload reconciled with ListParts, or None (aborted and forgotten)."""
        found = await state.load()
        if found is None:
            return None
        rec_key, upload_id, rec_part, rec_size, mine = found
        if (rec_key, rec_part, rec_size) != (key, part, size):
            await self._abort(rec_key, upload_id)
            await state.forget()
            return None
        try:
            server = await self._list_parts(key, upload_id)
        except Vanished:
            await state.forget()
            return None
        count = -(-size // part)
        kept: dict[int, tuple[str, int]] = {}
        for n, (etag, psize) in server.items():
            want = min(part, size - (n - 1) * part) if 1 <= n <= count else -1
            ours = mine.get(n)
            if psize == want and (ours is None or ours == (etag, psize)):
                kept[n] = (etag, psize)
        if kept != mine:
            await state.parts(kept, replace=True)
        return Upload(upload_id, part, kept)

    async def _list_parts(self, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
        bucket = self.settings.bucket

        def list_all(s3: Any) -> dict[int, tuple[str, int]]:
            out: dict[int, tuple[str, int]] = {}
            marker = 0
            while True:
                page = s3.list_parts(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker
                )
                for p in page.get("Parts", []):
                    out[int(p["PartNumber"])] = (str(p["ETag"]), int(p["Size"]))
                if not page.get("IsTruncated"):
                    return out
                marker = int(page["NextPartNumberMarker"])

        parts: dict[int, tuple[str, int]] = await self._call("ListParts", list_all)
        return parts

    async def _multipart(
        self,
        state: UploadState,
        key: str,
        path: Path,
        size: int,
        part: int,
        content_type: str,
        meter: Progress,
    ) -> UploadResult:
        bucket, count = self.settings.bucket, -(-size // part)
        for _ in range(3):  # a vanished upload starts over, within reason
            upload = await self._resume(state, key, size, part)
            if upload is None:
                created = await self._call(
                    "CreateMultipartUpload",
                    lambda s3: s3.create_multipart_upload(
                        Bucket=bucket,
                        Key=key,
                        ContentType=content_type,
                        Metadata={"sha256": state.sha},
                    ),
                )
                upload = Upload(str(created["UploadId"]), part, {})
                await state.start(key, upload, size, self._clock)
            resumed = len(upload.parts)
            meter.done(sum(s for _, s in upload.parts.values()))
            try:
                sent = await self._send_parts(state, key, path, size, upload, count, meter)
                await self._complete(key, upload)
            except Vanished:
                if await self._head(key) == size:
                    sent = 0  # completed by another process meanwhile
                else:
                    await state.forget()
                    continue
            await state.forget()
            return UploadResult(key, size, sent, False, resumed, count)
        raise _damaged(f"the multipart upload of {key} keeps vanishing")

    async def _send_parts(
        self,
        state: UploadState,
        key: str,
        path: Path,
        size: int,
        upload: Upload,
        count: int,
        meter: Progress,
    ) -> int:
        bucket, part = self.settings.bucket, upload.part_size
        gate = asyncio.Semaphore(self.settings.concurrency)
        failed = asyncio.Event()
        sent = 0

        async def send(n: int) -> None:
            nonlocal sent
            offset = (n - 1) * part
            length = min(part, size - offset)

            def put_part(s3: Any) -> str:
                with Slice(path, offset, length, lambda pos: meter.live(n, pos)) as body:
                    answer = s3.upload_part(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload.upload_id,
                        PartNumber=n,
                        Body=body,
                        ContentLength=length,
                    )
                return str(answer["ETag"])

            async with gate:
                if failed.is_set():
                    return  # no part starts once one has failed: the call is over
                try:
                    etag = await self._call(f"part {n}", put_part)
                except BaseException:
                    failed.set()
                    raise
            upload.parts[n] = (etag, length)
            await state.parts({n: (etag, length)})
            sent += length
            meter.done(length, n)

        tasks = [asyncio.create_task(send(n)) for n in range(1, count + 1) if n not in upload.parts]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return sent

    async def _complete(self, key: str, upload: Upload) -> None:
        bucket = self.settings.bucket
        parts = [{"PartNumber": n, "ETag": upload.parts[n][0]} for n in sorted(upload.parts)]
        await self._call(
            "CompleteMultipartUpload",
            lambda s3: s3.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload.upload_id,
                MultipartUpload={"Parts": parts},
            ),
        )

    async def download(
        self,
        user_id: uuid.UUID,
        sha256: str,
        dest: Path,
        progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Fetch the track to `dest` (atomically), verifying its hash while it streams."""
        key = object_key(user_id, sha256)
        check_key(key, user_id)
        bucket = self.settings.bucket
        loop = asyncio.get_running_loop()
        meters: list[Progress] = []

        def fetch(s3: Any) -> tuple[str, int]:
            answer = s3.get_object(Bucket=bucket, Key=key)
            if not meters:  # one meter across attempts: a retry never shows less
                meters.append(Progress(int(answer.get("ContentLength", 0)), progress, loop))
            meter = meters[0]
            digest, got = hashlib.sha256(), 0
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
            try:
                with os.fdopen(fd, "wb") as out:
                    body = answer["Body"]
                    while chunk := body.read(READ_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                        got += len(chunk)
                        meter.live(0, got)
                    out.flush()
                    os.fsync(out.fileno())
                if digest.hexdigest() != sha256:
                    raise _damaged(f"the track {sha256[:12]} from R2 does not match its hash")
                os.replace(tmp, dest)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            return sha256, got

        _, got = await self._call("GET", fetch)
        if meters:
            meters[0].finish()
        return int(got)

    def close(self) -> None:
        self._client.close()
