"""Downloads verified against the content hash; hashing that streams; settings checked."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from app.domain.errors import ConfigError, DamagedError
from storage.r2 import R2, R2Settings, hash_file, object_key
from storage.sql import SqlRepository
from tests.r2.test_upload import USER, make_file

MIB = 1 << 20


async def test_download_is_byte_exact_and_atomic(
    tmp_path: Path, settings: R2Settings, device: SqlRepository
) -> None:
    path, sha = make_file(tmp_path / "up.mp3", 3 * MIB + 7)
    r2 = R2(settings)
    await r2.upload(device, USER, path, sha, 3 * MIB + 7, "audio/mpeg")
    out = tmp_path / "down"
    out.mkdir()
    seen: list[int] = []
    got = await r2.download(USER, sha, out / "t.mp3", lambda done, total: seen.append(done))
    r2.close()
    assert got == 3 * MIB + 7
    assert (out / "t.mp3").read_bytes() == path.read_bytes()
    assert os.listdir(out) == ["t.mp3"]
    assert seen[-1] == got and seen == sorted(seen)


async def test_a_body_that_does_not_match_its_hash_is_damaged_and_left_nowhere(
    tmp_path: Path, settings: R2Settings, s3: Any
) -> None:
    sha = hashlib.sha256(b"the real track").hexdigest()
    s3.put_object(Bucket=settings.bucket, Key=object_key(USER, sha), Body=b"something else")
    out = tmp_path / "down"
    out.mkdir()
    (out / "t.mp3").write_bytes(b"old")
    r2 = R2(settings)
    with pytest.raises(DamagedError, match="does not match"):
        await r2.download(USER, sha, out / "t.mp3")
    r2.close()
    assert os.listdir(out) == ["t.mp3"]
    assert (out / "t.mp3").read_bytes() == b"old"


async def test_stat_tells_the_size_or_absence(settings: R2Settings, s3: Any) -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    r2 = R2(settings)
    assert await r2.stat(USER, sha) is None
    s3.put_object(Bucket=settings.bucket, Key=object_key(USER, sha), Body=b"x")
    assert await r2.stat(USER, sha) == 1
    r2.close()


@pytest.mark.parametrize("size", [0, 1, 3 * MIB + 5])
def test_hash_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    (tmp_path / "f").write_bytes(data)
    assert hash_file(tmp_path / "f", chunk=64 * 1024 + 3) == (
        hashlib.sha256(data).hexdigest(),
        size,
    )
    assert hash_file(tmp_path / "f") == (hashlib.sha256(data).hexdigest(), size)


def test_settings_are_checked() -> None:
    base: dict[str, Any] = {"bucket": "tracks", "access_key_id": "a", "secret_access_key": "s"}
    with pytest.raises(ConfigError):
        R2Settings(**base).endpoint()
    assert R2Settings(**base, account_id="acc").endpoint() == "https://acc.r2.cloudflarestorage.com"
    assert R2Settings(**base, endpoint_url="http://x:1").endpoint() == "http://x:1"
    with pytest.raises(ConfigError):
        R2Settings(**base, part_size_mb=4)
    with pytest.raises(ConfigError):
        R2Settings(**base, concurrency=0)
