"""A device's multipart uploads in SQLite: the upload id and part size per content hash, and
each part R2 acknowledged, committed as it happens (so a killed upload can resume)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from storage.r2.calls import Clock
from storage.sql import SqlRepository


@dataclass(slots=True)
class Upload:
    upload_id: str
    part_size: int
    parts: dict[int, tuple[str, int]]
    """Part number: (ETag, size), as acknowledged."""


class UploadState:
    """A content hash's multipart upload as recorded on the device."""

    def __init__(self, repo: SqlRepository, user_id: uuid.UUID, sha256: str) -> None:
        self.repo = repo
        self.sha = sha256
        self.uid = repo.conn.value(user_id)
        self._lock = asyncio.Lock()

    @property
    def _me(self) -> dict[str, Any]:
        return {"uid": self.uid, "sha": self.sha}

    async def load(self) -> tuple[str, str, int, int, dict[int, tuple[str, int]]] | None:
        c = self.repo.conn
        rows = await c.fetch(
            "SELECT object_key, upload_id, part_size, size_bytes FROM uploads "
            "WHERE user_id = :uid AND sha256 = :sha",
            self._me,
        )
        if not rows:
            return None
        key, upload_id, part_size, size = rows[0]
        parts = await c.fetch(
            "SELECT part_number, etag, size_bytes FROM upload_parts "
            "WHERE user_id = :uid AND sha256 = :sha",
            self._me,
        )
        found = {int(n): (str(e), int(s)) for n, e, s in parts}
        return str(key), str(upload_id), int(part_size), int(size), found

    async def start(self, key: str, upload: Upload, size: int, clock: Clock) -> None:
        async with self._lock, self.repo.transaction(local=False) as tx:
            c = tx.conn
            await self._delete(c)
            await c.execute(
                "INSERT INTO uploads (user_id, sha256, object_key, upload_id, part_size, "
                "size_bytes, created_at) VALUES (:uid, :sha, :key, :id, :ps, :size, :at)",
                self._me
                | {
                    "key": key,
                    "id": upload.upload_id,
                    "ps": upload.part_size,
                    "size": size,
                    "at": c.value(clock.now()),
                },
            )
            await tx.commit()

    async def parts(self, parts: dict[int, tuple[str, int]], replace: bool = False) -> None:
        async with self._lock, self.repo.transaction(local=False) as tx:
            c = tx.conn
            if replace:
                await c.execute(
                    "DELETE FROM upload_parts WHERE user_id = :uid AND sha256 = :sha", self._me
                )
            if parts:
                await c.executemany(
                    "INSERT INTO upload_parts (user_id, sha256, part_number, etag, size_bytes) "
                    "VALUES (:uid, :sha, :n, :etag, :size) "
                    "ON CONFLICT (user_id, sha256, part_number) DO UPDATE SET "
                    "etag = excluded.etag, size_bytes = excluded.size_bytes",
                    [self._me | {"n": n, "etag": e, "size": s} for n, (e, s) in parts.items()],
                )
            await tx.commit()

    async def forget(self) -> None:
        async with self._lock, self.repo.transaction(local=False) as tx:
            await self._delete(tx.conn)
            await tx.commit()

    async def _delete(self, c: Any) -> None:
        await c.execute("DELETE FROM upload_parts WHERE user_id = :uid AND sha256 = :sha", self._me)
        await c.execute("DELETE FROM uploads WHERE user_id = :uid AND sha256 = :sha", self._me)
