"""Failures: 5xx and 429 retried with backoff, then a one-line error and a later retry works;
refusals told as configuration errors; bad keys refused before any request."""

from __future__ import annotations

import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from app.domain.errors import ConfigError, UnavailableError, UsageError
from storage.r2 import R2, R2Settings, check_key, object_key
from storage.sql import SqlRepository
from tests.r2.conftest import Proxy
from tests.r2.test_upload import USER, make_file, rows, via

MIB = 1 << 20
SHA = "ab" * 32


async def test_server_errors_are_retried_until_the_upload_succeeds(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy, s3: Any
) -> None:
    path, sha = make_file(tmp_path / "a.mp3", 200_000)
    proxy.fail = 3
    r2 = R2(via(settings, proxy.url))
    result = await r2.upload(device, USER, path, sha, 200_000, "audio/mpeg")
    r2.close()
    assert proxy.seen > 3 and result.sent_bytes == 200_000
    got = s3.get_object(Bucket=settings.bucket, Key=object_key(USER, sha))["Body"].read()
    assert got == path.read_bytes()


async def test_throttling_is_retried_after_the_time_the_server_asks(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy
) -> None:
    size = 11 * MIB
    path, sha = make_file(tmp_path / "b.mp3", size)
    proxy.after, proxy.fail, proxy.status, proxy.code = 3, 2, 429, "SlowDown"
    proxy.headers = {"Retry-After": "0"}
    r2 = R2(via(settings, proxy.url, concurrency=1))
    result = await r2.upload(device, USER, path, sha, size, "audio/mpeg")
    r2.close()
    assert (result.parts, result.sent_bytes) == (3, size)
    assert await rows(device) == (0, 0)


async def test_too_many_failures_give_one_line_and_the_track_uploads_later(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy
) -> None:
    size = 11 * MIB
    path, sha = make_file(tmp_path / "c.mp3", size)
    # The HEAD and the creation go through, then every part fails.
    proxy.after, proxy.fail = 2, 10**6
    flaky = via(settings, proxy.url, max_attempts=2, concurrency=1, secret_access_key="s3cr3t")
    r2 = R2(flaky)
    with pytest.raises(UnavailableError) as caught:
        await r2.upload(device, USER, path, sha, size, "audio/mpeg")
    r2.close()
    message = str(caught.value)
    assert "\n" not in message and "s3cr3t" not in message
    assert "2 attempts" in message
    assert proxy.seen == 2 + 2
    assert await rows(device) == (1, 0)
    proxy.fail = 0
    r2 = R2(via(settings, proxy.url))
    result = await r2.upload(device, USER, path, sha, size, "audio/mpeg")
    r2.close()
    assert (result.parts, result.sent_bytes) == (3, size)


async def test_refused_credentials_are_a_configuration_error_not_retried(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy
) -> None:
    path, sha = make_file(tmp_path / "d.mp3", 1000)
    proxy.fail, proxy.status, proxy.code = 10, 403, "SignatureDoesNotMatch"
    r2 = R2(via(settings, proxy.url, secret_access_key="s3cr3t"))
    with pytest.raises(ConfigError) as caught:
        await r2.upload(device, USER, path, sha, 1000, "audio/mpeg")
    r2.close()
    assert proxy.seen == 1
    assert "s3cr3t" not in str(caught.value) and "\n" not in str(caught.value)


async def test_a_missing_bucket_is_a_configuration_error(
    tmp_path: Path, settings: R2Settings, device: SqlRepository
) -> None:
    path, sha = make_file(tmp_path / "e.mp3", 1000)
    r2 = R2(via(settings, settings.endpoint(), bucket="no-such-bucket-here"))
    with pytest.raises(ConfigError, match="NoSuchBucket"):
        await r2.upload(device, USER, path, sha, 1000, "audio/mpeg")
    r2.close()


def test_an_unreachable_server_is_unavailable_after_the_retries(
    settings: R2Settings,
) -> None:
    import asyncio
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r2 = R2(via(settings, f"http://127.0.0.1:{port}", max_attempts=2))
    with pytest.raises(UnavailableError, match="after 2 attempts"):
        asyncio.run(r2.stat(USER, SHA))


@pytest.mark.parametrize(
    "key",
    [
        f"user/{USER}/tracks/../{SHA}",
        f"user/{USER}/../{SHA}",
        f"user/{uuid.UUID(int=7)}/tracks/{SHA}",
        f"user//tracks/{SHA}",
        f"user/{USER}/tracks/",
        f"user/{USER}/tracks/{SHA}/x",
        f"user/{USER}/tracks/{'g' * 64}",
        f"user/{USER}/tracks/{SHA.upper()}",
        f"user/{USER}/tracks/{SHA[:-1]}",
        f"users/{USER}/tracks/{SHA}",
        f"user/{USER}/images/{SHA}",
    ],
)
def test_check_key_refuses_anything_but_this_users_track_key(key: str) -> None:
    with pytest.raises(UsageError):
        check_key(key, USER)


def test_check_key_accepts_the_object_key() -> None:
    check_key(object_key(USER, SHA), USER)


@pytest.mark.parametrize("sha", ["..", f"{SHA}/x", "", "z" * 64, f"../../{SHA}"])
async def test_bad_keys_are_refused_before_any_request(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy, sha: str
) -> None:
    path, _ = make_file(tmp_path / "f.mp3", 100)
    r2 = R2(via(settings, proxy.url))
    with pytest.raises(UsageError):
        await r2.upload(device, USER, path, sha, 100, "audio/mpeg")
    with pytest.raises(UsageError):
        await r2.stat(USER, sha)
    with pytest.raises(UsageError):
        await r2.download(USER, sha, tmp_path / "out.mp3")
    r2.close()
    assert proxy.seen == 0
    assert not (tmp_path / "out.mp3").exists()


async def test_progress_never_goes_back_when_a_part_is_retried(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy
) -> None:
    import threading
    import time

    size = 16 * MIB
    path, sha = make_file(tmp_path / "g.mp3", size)
    proxy.after, proxy.fail = 3, 1  # the second part's first attempt fails
    seen: list[tuple[int, int, float, int]] = []
    r2 = R2(via(settings, proxy.url, concurrency=1))
    started = time.monotonic()
    result = await r2.upload(
        device,
        USER,
        path,
        sha,
        size,
        "audio/mpeg",
        lambda d, t: seen.append((d, t, time.monotonic(), threading.get_ident())),
    )
    took = time.monotonic() - started
    r2.close()
    assert (result.parts, result.sent_bytes) == (4, size)
    done = [d for d, _, _, _ in seen]
    assert done == sorted(set(done)) and done[-1] == size and done[0] >= 0
    assert {t for _, t, _, _ in seen} == {size}
    assert {i for _, _, _, i in seen} == {threading.get_ident()}
    assert len(seen) <= took * 20 + 2
    # Throttled: calls queued at least 50 ms apart (the final one aside) arrive well apart.
    stamps = [at for _, _, at, _ in seen[:-1]]
    assert all(b - a >= 0.01 for a, b in pairwise(stamps))


async def test_a_download_is_retried_through_server_errors(
    tmp_path: Path, settings: R2Settings, device: SqlRepository, proxy: Proxy
) -> None:
    path, sha = make_file(tmp_path / "h.mp3", 2 * MIB + 1)
    r2 = R2(settings)
    await r2.upload(device, USER, path, sha, 2 * MIB + 1, "audio/mpeg")
    r2.close()
    proxy.fail = 2
    seen: list[int] = []
    r2 = R2(via(settings, proxy.url))
    got = await r2.download(USER, sha, tmp_path / "back.mp3", lambda d, t: seen.append(d))
    r2.close()
    assert proxy.seen == 3
    assert got == 2 * MIB + 1 and (tmp_path / "back.mp3").read_bytes() == path.read_bytes()
    assert seen == sorted(set(seen)) and seen[-1] == got
