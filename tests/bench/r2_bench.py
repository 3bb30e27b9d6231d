"""R2 benchmark on a local S3-compatible server (moto's, in this process): the project's
`R2.upload` against plain boto3 `upload_file` (the same client, the same part size and
concurrency), a resume after a SIGKILL at half the parts, a re-upload of identical content,
and the memory `hash_file` takes over the whole file.

    python -m tests.bench.r2_bench [--mb 200] [--part-mb 8] [--concurrency 4] [--rounds 5]
                                   [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from storage.local import open_repository
from storage.r2 import R2, R2Settings, hash_file, object_key
from storage.r2.calls import Client

USER = uuid.UUID("00000000-0000-0000-0000-0000000000b2")
MB = 1_000_000
MIB = 1 << 20
RATIO_TARGET = 0.9


class Logged(R2):
    """R2 that notes each part it starts sending (bench instrumentation only)."""

    def __init__(self, settings: R2Settings, note: Callable[[int], None]) -> None:
        super().__init__(settings)
        self._note = note

    async def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        if what.startswith("part "):
            self._note(int(what.split()[1]))
        return await super()._call(what, fn)


CHILD = """
import asyncio, sys, uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from storage.local import open_repository
from storage.r2 import R2Settings
from tests.bench.r2_bench import Logged, USER

url, bucket, db, path, sha, size, part_mb, conc, log = sys.argv[1:10]
out = open(log, "a", buffering=1)

async def main():
    repo = await open_repository(Path(db), ZoneInfo("UTC"), datetime.now(UTC))
    s = R2Settings(bucket=bucket, access_key_id="bench", secret_access_key="bench",
                   endpoint_url=url, part_size_mb=int(part_mb), concurrency=int(conc))
    await Logged(s, lambda n: out.write(f"{n}\\n")).upload(
        repo, USER, Path(path), sha, int(size), "audio/wav")

asyncio.run(main())
"""


def _rss_kib() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _make_file(path: Path, size: int) -> None:
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, MIB)
            f.write(os.urandom(n))
            left -= n


def measure_hash(path: Path) -> dict[str, Any]:
    before = _rss_kib()
    tracemalloc.start()
    t0 = time.perf_counter()
    sha, size = hash_file(path)
    took = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "sha256": sha,
        "size": size,
        "seconds": round(took, 3),
        "rss_increase_kib": _rss_kib() - before,
        "python_peak_kib": peak // 1024,
    }


async def run(url: str, folder: Path, size_mb: int, part_mb: int, conc: int, rounds: int) -> Any:
    path = folder / "track.wav"
    size = size_mb * MB
    _make_file(path, size)
    hashed = measure_hash(path)
    sha = hashed["sha256"]
    settings = R2Settings(
        bucket="bench-tracks",
        access_key_id="bench",
        secret_access_key="bench",
        endpoint_url=url,
        part_size_mb=part_mb,
        concurrency=conc,
    )
    plain = Client(settings).s3()  # the very client configuration R2 uses
    import boto3

    boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket=settings.bucket)
    key = object_key(USER, sha)
    from boto3.s3.transfer import TransferConfig

    transfer = TransferConfig(
        multipart_threshold=part_mb * MIB,
        multipart_chunksize=part_mb * MIB,
        max_concurrency=conc,
        use_threads=True,
    )
    repo = await open_repository(folder / "device.db", ZoneInfo("UTC"), datetime.now(UTC))
    r2 = R2(settings)
    ours: list[float] = []
    theirs: list[float] = []

    async def project() -> None:
        t0 = time.perf_counter()
        result = await r2.upload(repo, USER, path, sha, size, "audio/wav")
        ours.append(time.perf_counter() - t0)
        assert result.sent_bytes == size
        plain.delete_object(Bucket=settings.bucket, Key=key)

    async def baseline() -> None:
        t0 = time.perf_counter()
        await asyncio.to_thread(
            plain.upload_file, str(path), settings.bucket, "plain/track", Config=transfer
        )
        theirs.append(time.perf_counter() - t0)
        plain.delete_object(Bucket=settings.bucket, Key="plain/track")

    for i in range(rounds):  # alternated, so neither always runs first
        for step in (project, baseline) if i % 2 == 0 else (baseline, project):
            await step()

    # A resume after a kill at half the parts.
    parts = -(-size // (part_mb * MIB))
    db, log = folder / "killed.db", folder / "started.log"
    await (await open_repository(db, ZoneInfo("UTC"), datetime.now(UTC))).close()
    args = [url, settings.bucket, str(db), str(path), sha, str(size), str(part_mb), str(conc)]
    child = subprocess.Popen([sys.executable, "-c", CHILD, *args, str(log)])
    recorded = 0
    while child.poll() is None:
        with sqlite3.connect(db) as con:
            recorded = con.execute("SELECT count(*) FROM upload_parts").fetchone()[0]
        if recorded >= parts // 2:
            child.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    child.wait()
    started = {int(n) for n in log.read_text().split()}
    upload_id = sqlite3.connect(db).execute("SELECT upload_id FROM uploads").fetchone()[0]
    on_server = len(
        plain.list_parts(Bucket=settings.bucket, Key=key, UploadId=upload_id).get("Parts", [])
    )
    again: list[int] = []
    killed_repo = await open_repository(db, ZoneInfo("UTC"), datetime.now(UTC))
    t0 = time.perf_counter()
    resumed = await Logged(settings, again.append).upload(
        killed_repo, USER, path, sha, size, "audio/wav"
    )
    resume_s = time.perf_counter() - t0
    await killed_repo.close()
    resent = sorted(started & set(again))
    part = part_mb * MIB
    resent_bytes = sum(min(part, size - (n - 1) * part) for n in resent)

    t0 = time.perf_counter()
    dup = await r2.upload(repo, USER, path, sha, size, "audio/wav")
    dup_s = time.perf_counter() - t0
    r2.close()
    await repo.close()

    ours_mbs = size / MB / statistics.median(ours)
    theirs_mbs = size / MB / statistics.median(theirs)
    return {
        "size_mb": size_mb,
        "part_mib": part_mb,
        "concurrency": conc,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "r2_upload_mb_s": round(ours_mbs, 1),
        "upload_file_mb_s": round(theirs_mbs, 1),
        "ratio": round(ours_mbs / theirs_mbs, 3),
        "ratio_best": round(min(theirs) / min(ours), 3),
        "r2_upload_seconds": [round(s, 3) for s in ours],
        "upload_file_seconds": [round(s, 3) for s in theirs],
        "resume": {
            "parts": parts,
            "killed_with_rows": recorded,
            "started_before_kill": len(started),
            "on_server_at_kill": on_server,
            "reused": resumed.resumed_parts,
            "sent_on_resume": len(again),
            "resent_parts": len(resent),
            "resent_bytes": resent_bytes,
            "in_flight_limit": conc,
            "seconds": round(resume_s, 3),
            "exit": child.returncode,
        },
        "duplicate": {
            "sent_bytes": dup.sent_bytes,
            "deduplicated": dup.deduplicated,
            "ms": round(dup_s * 1000, 1),
        },
        "hash_file": hashed,
    }


def verdicts(r: dict[str, Any]) -> dict[str, bool]:
    res = r["resume"]
    return {
        "ratio_90pct": r["ratio"] >= RATIO_TARGET,
        "resent_within_in_flight": res["resent_parts"] <= res["in_flight_limit"],
        "duplicate_sends_nothing": r["duplicate"]["sent_bytes"] == 0,
        "hash_constant_memory": r["hash_file"]["rss_increase_kib"] < 16 * 1024,
    }


def _ok(flag: bool) -> str:
    return "yes" if flag else "NO"


def report(r: dict[str, Any]) -> str:
    v, res, h = verdicts(r), r["resume"], r["hash_file"]
    return "\n".join(
        [
            f"R2 on a local S3 server (moto, in process): a {r['size_mb']} MB file, parts of "
            f"{r['part_mib']} MiB, {r['concurrency']} in flight, median of {r['rounds']} rounds, "
            f"{r['cpus']} CPUs",
            f"{'':<50}{'MB/s':>9}  note",
            f"{'R2.upload (HEAD, multipart, parts in SQLite)':<50}{r['r2_upload_mb_s']:>9.1f}  "
            f"{r['ratio']:.0%} of upload_file (best round: {r['ratio_best']:.0%}), >= 90%: "
            f"{_ok(v['ratio_90pct'])}",
            f"{'boto3 upload_file (same client, TransferConfig)':<50}{r['upload_file_mb_s']:>9.1f}",
            "",
            f"resume after SIGKILL at {res['killed_with_rows']} of {res['parts']} parts recorded: "
            f"{res['started_before_kill']} started, {res['on_server_at_kill']} on the server, "
            f"{res['reused']} reused, {res['sent_on_resume']} sent in {res['seconds']} s",
            f"  re-sent: {res['resent_parts']} parts ({res['resent_bytes'] / MB:.1f} MB), at most "
            f"the {res['in_flight_limit']} in flight: {_ok(v['resent_within_in_flight'])}",
            f"identical content again: {r['duplicate']['sent_bytes']} bytes sent "
            f"(deduplicated: {r['duplicate']['deduplicated']}) in {r['duplicate']['ms']} ms: "
            f"{_ok(v['duplicate_sends_nothing'])}",
            f"hash_file of {h['size'] / MB:.0f} MB in {h['seconds']} s: peak RSS +"
            f"{h['rss_increase_kib']} KiB, Python peak {h['python_peak_kib']} KiB, constant: "
            f"{_ok(v['hash_constant_memory'])}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.r2_bench")
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--part-mb", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(
                run(
                    f"http://{host}:{port}",
                    Path(tmp),
                    args.mb,
                    args.part_mb,
                    args.concurrency,
                    args.rounds,
                )
            )
    finally:
        server.stop()
    if args.json:
        result["verdicts"] = verdicts(result)
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
