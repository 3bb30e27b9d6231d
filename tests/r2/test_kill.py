"""An upload killed (SIGKILL) halfway resumes in another process, sending only what is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from storage.local import open_repository
from storage.r2 import R2, R2Settings, hash_file, object_key

MIB = 1 << 20
USER = uuid.UUID("11111111-2222-3333-4444-555555555555")

CHILD = """
import asyncio, os, signal, sqlite3, sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from storage.local import open_repository
from storage.r2 import R2, R2Settings

url, bucket, db, path, sha, size = sys.argv[1:7]

async def watch():
    # Killed right after the second part's row is committed (as a crash would).
    while True:
        con = sqlite3.connect(db)
        n = con.execute("SELECT count(*) FROM upload_parts").fetchone()[0]
        con.close()
        if n >= 2:
            os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(0.002)

async def main():
    repo = await open_repository(Path(db), ZoneInfo("UTC"), datetime(2026, 3, 2, tzinfo=UTC))
    settings = R2Settings(bucket=bucket, access_key_id="test", secret_access_key="test",
                          endpoint_url=url, part_size_mb=5, concurrency=1)
    watcher = asyncio.ensure_future(watch())
    await R2(settings).upload(repo, uuid.UUID(int=0x11111111222233334444555555555555),
                              Path(path), sha, int(size), "audio/wav")
    watcher.cancel()

asyncio.run(main())
"""


async def test_a_killed_upload_resumes_where_it_stopped(
    tmp_path: Path, settings: R2Settings, s3: Any, clock: FakeClock
) -> None:
    size = 26 * MIB
    path = tmp_path / "killed.wav"
    path.write_bytes(os.urandom(size))
    sha, _ = hash_file(path)
    db = tmp_path / "device.db"
    repo = await open_repository(db, ZoneInfo("UTC"), clock.now())
    args = [settings.endpoint(), settings.bucket, str(db), str(path), sha, str(size)]
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    recorded = await repo.conn.fetch("SELECT count(*) FROM upload_parts")
    assert recorded[0][0] >= 2
    r2 = R2(settings)
    try:
        result = await r2.upload(repo, USER, path, sha, size, "audio/wav")
    finally:
        r2.close()
        await repo.close()
    part = 5 * MIB
    assert result.parts == 6
    assert result.resumed_parts >= 2
    assert result.sent_bytes <= size - 2 * part
    assert result.sent_bytes == size - result.resumed_parts * part
    body = s3.get_object(Bucket=settings.bucket, Key=object_key(USER, sha))["Body"].read()
    assert body == path.read_bytes()
