"""Uploads against a real S3 server: byte-exact, once per content hash, multipart, resumed."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import ConfigError
from storage.local import open_repository
from storage.r2 import R2, R2Settings, hash_file, object_key
from storage.sql import SqlRepository
from tests.r2.conftest import Proxy

MIB = 1 << 20
USER = uuid.UUID("11111111-2222-3333-4444-555555555555")


def make_file(path: Path, size: int) -> tuple[Path, str]:
    path.write_bytes(os.urandom(size))
    sha, got = hash_file(path)
    assert got == size
    return path, sha


def stored(s3: Any, bucket: str, sha: str) -> Any:
    return s3.get_object(Bucket=bucket, Key=object_key(USER, sha))


async def rows(repo: SqlRepository) -> tuple[int, int]:
    ups = await repo.conn.fetch("SELECT count(*) FROM uploads")
    parts = await repo.conn.fetch("SELECT count(*) FROM upload_parts")
    return int(ups[0][0]), int(parts[0][0])


def via(settings: R2Settings, url: str, **changes: Any) -> R2Settings:
    fields = {f: getattr(settings, f) for f in settings.__slots__}
    return R2Settings(**(fields | {"endpoint_url": url} | changes))


async def test_small_upload_is_byte_exact_with_its_hash_and_type(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, s3: Any
) -> None:
    path, sha = make_file(tmp_path / "a.mp3", 300_001)
    seen: list[tuple[int, int, int]] = []
    r2 = R2(settings)
    result = await r2.upload(
        device,
        USER,
        path,
        sha,
        300_001,
        "audio/mpeg",
        lambda done, total: seen.append((done, total, threading.get_ident())),
    )
    r2.close()
    assert result.key == f"user/{USER}/tracks/{sha}"
    assert (result.sent_bytes, result.deduplicated, result.parts) == (300_001, False, 0)
    got = stored(s3, settings.bucket, sha)
    assert got["Body"].read() == path.read_bytes()
    assert got["Metadata"] == {"sha256": sha}
    assert got["ContentType"] == "audio/mpeg"
    assert seen[-1][:2] == (300_001, 300_001)
    assert {t for _, _, t in seen} == {threading.get_ident()}


async def test_multipart_upload_is_byte_exact_in_fixed_parts(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, s3: Any
) -> None:
    size = 12 * MIB + 12_345
    path, sha = make_file(tmp_path / "big.flac", size)
    seen: list[int] = []
    r2 = R2(settings)
    result = await r2.upload(
        device, USER, path, sha, size, "audio/flac", lambda done, total: seen.append(done)
    )
    assert (result.parts, result.sent_bytes, result.resumed_parts) == (3, size, 0)
    got = stored(s3, settings.bucket, sha)
    assert got["Body"].read() == path.read_bytes()
    assert got["Metadata"] == {"sha256": sha}
    assert got["ContentType"] == "audio/flac"
    assert got["ETag"].strip('"').endswith("-3")
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    assert seen[-1] == size and all(0 <= s <= size for s in seen)
    assert await rows(device) == (0, 0)
    assert await r2.stat(USER, sha) == size
    r2.close()


async def test_same_content_is_sent_once_from_any_device(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, clock: FakeClock
) -> None:
    size = 6 * MIB
    path, sha = make_file(tmp_path / "t.ogg", size)
    r2 = R2(settings)
    first = await r2.upload(device, USER, path, sha, size, "audio/ogg")
    assert (first.sent_bytes, first.deduplicated) == (size, False)
    again = await r2.upload(device, USER, path, sha, size, "audio/ogg")
    assert (again.sent_bytes, again.deduplicated) == (0, True)
    other = await open_repository(tmp_path / "other.db", ZoneInfo("UTC"), clock.now())
    copy = tmp_path / "copy.ogg"
    copy.write_bytes(path.read_bytes())
    try:
        theirs = await R2(settings).upload(other, USER, copy, sha, size, "audio/ogg")
    finally:
        await other.close()
    assert (theirs.sent_bytes, theirs.deduplicated, theirs.parts) == (0, True, 0)
    r2.close()


async def interrupted(
    settings: R2Settings, proxy: Proxy, device: SqlRepository, path: Path, sha: str, parts: int
) -> None:
    """An upload cut off by a refusal once `parts` parts went through (one at a time)."""
    proxy.after, proxy.fail, proxy.status, proxy.code = 2 + parts, 10**6, 403, "AccessDenied"
    r2 = R2(via(settings, proxy.url, concurrency=1))
    with pytest.raises(ConfigError):
        await r2.upload(device, USER, path, sha, path.stat().st_size, "audio/wav")
    r2.close()
    assert await rows(device) == (1, parts)


async def test_an_interrupted_upload_resumes_and_reuses_parts_the_server_holds(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy, s3: Any
) -> None:
    size = 21 * MIB
    path, sha = make_file(tmp_path / "long.wav", size)
    await interrupted(settings, proxy, device, path, sha, 3)
    # A part the server holds but the device lost (killed between the two) is reused.
    async with device.transaction(local=False) as tx:
        await tx.conn.execute("DELETE FROM upload_parts WHERE part_number = 2")
        await tx.commit()
    r2 = R2(settings)
    result = await r2.upload(device, USER, path, sha, size, "audio/wav")
    r2.close()
    assert (result.resumed_parts, result.parts) == (3, 5)
    assert result.sent_bytes == size - 3 * 5 * MIB
    assert stored(s3, settings.bucket, sha)["Body"].read() == path.read_bytes()
    assert await rows(device) == (0, 0)


async def test_a_vanished_upload_starts_over_cleanly(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy, s3: Any
) -> None:
    size = 11 * MIB
    path, sha = make_file(tmp_path / "gone.wav", size)
    await interrupted(settings, proxy, device, path, sha, 2)
    (upload_id,) = (await device.conn.fetch("SELECT upload_id FROM uploads"))[0]
    s3.abort_multipart_upload(Bucket=settings.bucket, Key=object_key(USER, sha), UploadId=upload_id)
    r2 = R2(settings)
    result = await r2.upload(device, USER, path, sha, size, "audio/wav")
    r2.close()
    assert (result.resumed_parts, result.sent_bytes, result.parts) == (0, size, 3)
    assert stored(s3, settings.bucket, sha)["Body"].read() == path.read_bytes()
    assert await rows(device) == (0, 0)


async def test_a_changed_part_size_aborts_the_old_upload_and_starts_over(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy, s3: Any
) -> None:
    size = 13 * MIB
    path, sha = make_file(tmp_path / "resized.wav", size)
    await interrupted(settings, proxy, device, path, sha, 1)
    r2 = R2(via(settings, settings.endpoint(), part_size_mb=6))
    result = await r2.upload(device, USER, path, sha, size, "audio/wav")
    r2.close()
    assert (result.resumed_parts, result.parts, result.sent_bytes) == (0, 3, size)
    assert s3.list_multipart_uploads(Bucket=settings.bucket).get("Uploads", []) == []
    assert stored(s3, settings.bucket, sha)["Body"].read() == path.read_bytes()
    assert await rows(device) == (0, 0)
