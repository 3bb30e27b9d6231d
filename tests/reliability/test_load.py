"""Load: many devices syncing to one Postgres at once, some of them the same user's.

Each simulated device is an asyncio task with its own SQLite file (a new database, its
own device id), its own changes made through the real services (sessions started, paused,
resumed, completed or abandoned: one durable local commit each, one outbox row each), and
the real sync code over its own connection as its user's login role. Connections are
bounded by a semaphore below the server's `max_connections`. Every device syncs once
(push then pull), all at the same time; then once more, so each pulls what the others of
its user pushed meanwhile.

Checked: no sync failed (a deadlock or serialization failure the sync code did not retry
would surface here as an error); no row lost or duplicated (the server holds exactly every
session each device made, each paid session's award once, each device acknowledged to its
last change); every device of a user ends with the same sessions, ledger and totals.
Reported: p50 / p99 / max sync latency (each sync, from its connection to its end, without
the wait for a connection slot) and server throughput (changes pushed per second while
the first round ran), printed, and written as JSON to $FOCUS_LOAD_REPORT when it is set.

Bounded for CI (200 devices x 100 changes, a minute or so); a bigger run:

    FOCUS_LOAD_DEVICES=1000 FOCUS_LOAD_CHANGES=300 FOCUS_LOAD_REPORT=load.json \\
        .venv/bin/python -m pytest tests/reliability/test_load.py -s
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.clock import FakeClock
from app.services import FocusService, TimerRules
from storage.local import open_repository, upgrade_file
from storage.pg_connect import Timeouts
from storage.sql import SqlRepository
from storage.sync import SyncReport, SyncTarget, sync
from tests.pg import add_user

pytestmark = pytest.mark.postgres

ZONE = ZoneInfo("UTC")
DEVICES = int(os.environ.get("FOCUS_LOAD_DEVICES", "200"))
CHANGES = int(os.environ.get("FOCUS_LOAD_CHANGES", "100"))
REPORT = os.environ.get("FOCUS_LOAD_REPORT")
"""Read at import: the suite's fixtures clear FOCUS_* variables before each test."""
SHARED = 5
"""Devices per user for the first half of the devices (the rest have a user each)."""


@dataclass
class Device:
    n: int
    user: dict[str, Any]
    repo: SqlRepository
    clock: FakeClock
    made: set[uuid.UUID] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    reports: list[SyncReport] = field(default_factory=list)


async def make_changes(device: Device, changes: int) -> None:
    """`changes` outbox rows (or one or two more) through the real services."""
    service = FocusService(device.repo, device.clock, ZONE, TimerRules())
    clock = device.clock
    k = 0
    while await device.repo.pending_changes() < changes:
        k += 1
        s = await service.start(minutes=5 + k % 4, task=f"d{device.n} #{k}", tags=("load",))
        device.made.add(s.id)
        clock.advance(minutes=1)
        if k % 3 == 0:
            await service.pause()
            clock.advance(minutes=2)
            await service.resume()
        clock.advance(minutes=1 + k % 3)  # within the planned time: not over yet
        if k % 5 == 4:
            await service.abandon("load")
        else:
            await service.complete()
        clock.advance(minutes=1)


def _device_work(job: tuple[str, int, str, int]) -> tuple[list[str], str]:
    """In a worker process: the device's changes; (its session ids, its clock at the end)."""
    path, n, start, changes = job

    async def work() -> tuple[list[str], str]:
        clock = FakeClock(datetime.fromisoformat(start) + timedelta(seconds=n))
        repo = await open_repository(Path(path), ZONE, clock.now())
        try:
            device = Device(n, {}, repo, clock)
            await make_changes(device, changes)
        finally:
            await repo.close()
        return [str(i) for i in device.made], clock.now().isoformat()

    return asyncio.run(work())


def slots(max_connections: int) -> int:
    """Connections the devices may hold at once: well below the server's limit (the admin
    and the test's own checks need some; superuser slots are kept apart)."""
    return max(4, min(48, (max_connections - 10) // 2))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def test_many_devices_syncing_at_once_lose_and_duplicate_nothing(
    tmp_path: Path, pg_admin: str
) -> None:
    admin = await asyncpg.connect(pg_admin)
    try:
        max_connections = int(await admin.fetchval("SHOW max_connections"))
    finally:
        await admin.close()
    limit = asyncio.Semaphore(slots(max_connections))

    # Users: the first half of the devices in groups of SHARED, then one user each.
    shared = DEVICES // 2
    groups = -(-shared // SHARED)
    users = [await add_user(pg_admin) for _ in range(groups + DEVICES - shared)]
    owner = [
        users[i // SHARED] if i < shared else users[groups + i - shared] for i in range(DEVICES)
    ]

    # Each device a new database of its own (the schema copied from one made first).
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    template = tmp_path / "template.db"
    await upgrade_file(template, start)
    made_at = time.perf_counter()
    paths = [tmp_path / f"device-{n}.db" for n in range(DEVICES)]
    for path in paths:
        shutil.copyfile(template, path)
    # The changes are made in worker processes (the machine's cores), a share of the
    # devices each; the devices then sync from this process.
    workers = max(1, min(4, os.cpu_count() or 1))
    jobs = [(str(p), n, start.isoformat(), CHANGES) for n, p in enumerate(paths)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        results = list(pool.map(_device_work, jobs, chunksize=max(1, DEVICES // workers // 4)))
    making = time.perf_counter() - made_at
    devices = []
    for (n, path), (made_ids, ended) in zip(enumerate(paths), results, strict=True):
        clock = FakeClock(datetime.fromisoformat(ended))
        repo = await open_repository(path, ZONE, clock.now())
        devices.append(Device(n, owner[n], repo, clock, {uuid.UUID(i) for i in made_ids}))
    try:
        changes = [await d.repo.pending_changes() for d in devices]
        assert min(changes) >= CHANGES
        assert len({d.repo.identity.client_id for d in devices}) == DEVICES

        errors: list[str] = []

        async def one(device: Device) -> None:
            target = SyncTarget(device.user["sync_url"], timeouts=Timeouts(10, 60))
            async with limit:
                began = time.perf_counter()
                try:
                    report = await sync(device.repo, target, device.clock.now())
                except Exception as exc:  # any failure fails the test, with its reason
                    errors.append(f"device {device.n}: {type(exc).__name__}: {exc}")
                    return
                device.latencies.append(time.perf_counter() - began)
                device.reports.append(report)

        first = time.perf_counter()
        await asyncio.gather(*(one(d) for d in devices))
        push_seconds = time.perf_counter() - first
        assert errors == [], "\n".join(errors[:10])
        second = time.perf_counter()
        await asyncio.gather(*(one(d) for d in devices))
        pull_seconds = time.perf_counter() - second
        assert errors == [], "\n".join(errors[:10])

        # Nothing lost, nothing twice.
        pushed = sum(d.reports[0].pushed for d in devices)
        assert pushed == sum(changes)
        assert all(r.rejected == [] for d in devices for r in d.reports)
        assert [await d.repo.pending_changes() for d in devices] == [0] * DEVICES
        raw = await asyncpg.connect(pg_admin)
        try:
            rows = await raw.fetch(
                "SELECT user_id, id, status, xp_awarded, coins_awarded FROM sessions"
            )
            awards = await raw.fetch("SELECT user_id, session_id, xp, coins FROM ledger")
            acked = {
                r[0]: int(r[1])
                for r in await raw.fetch("SELECT client_id, last_mutation_id FROM sync_clients")
            }
            deadlocks = await raw.fetchval(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            )
            last = await raw.fetch("SELECT u.user_id, u.change_stamp FROM user_state AS u")
        finally:
            await raw.close()
        on_server: dict[str, set[uuid.UUID]] = {}
        for r in rows:
            on_server.setdefault(str(r["user_id"]), set()).add(r["id"])
        made: dict[str, set[uuid.UUID]] = {}
        for d in devices:
            made.setdefault(d.user["user_id"], set()).update(d.made)
        assert len(rows) == sum(len(d.made) for d in devices)
        assert {u: ids for u, ids in on_server.items()} == made
        paid = [r for r in rows if r["xp_awarded"] or r["coins_awarded"]]
        assert len(awards) == len(paid) == len({(a[0], a[1]) for a in awards})
        assert sum(a["xp"] for a in awards) == sum(r["xp_awarded"] for r in rows)
        assert len(acked) == DEVICES
        assert not deadlocks
        assert all(stamp > 0 for _, stamp in last if str(_) in made)

        # Every device of a user ends with all of the user's sessions and the same totals.
        by_user: dict[str, list[Device]] = {}
        for d in devices:
            by_user.setdefault(d.user["user_id"], []).append(d)
        xp_of: dict[str, int] = {}
        for r in rows:
            key = str(r["user_id"])
            xp_of[key] = xp_of.get(key, 0) + r["xp_awarded"]
        for user_id, group in by_user.items():
            for d in group:
                ids = {s.id async for s in d.repo.iter_sessions()}
                assert ids == made[user_id], (d.n, len(ids), len(made[user_id]))
                assert await d.repo.total_xp() == xp_of[user_id], d.n
    finally:
        for d in devices:
            await d.repo.close()

    latencies = [x for d in devices for x in d.latencies]
    round_one = [d.latencies[0] for d in devices]
    report = {
        "devices": DEVICES,
        "users": len(users),
        "shared_users": groups,
        "changes_per_device": CHANGES,
        "changes_pushed": pushed,
        "sessions": len(rows),
        "awards": len(awards),
        "server_deadlocks": int(deadlocks or 0),
        "max_connections": max_connections,
        "concurrent_connections": slots(max_connections),
        "first_round_seconds": round(push_seconds, 3),
        "second_round_seconds": round(pull_seconds, 3),
        "throughput_changes_per_second": round(pushed / push_seconds, 1),
        "sync_p50_ms": round(statistics.median(round_one) * 1000, 1),
        "sync_p99_ms": round(percentile(round_one, 99) * 1000, 1),
        "sync_max_ms": round(max(round_one) * 1000, 1),
        "all_syncs_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "all_syncs_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "making_changes_seconds": round(making, 3),
    }
    sys.stdout.write(f"\nload: {json.dumps(report)}\n")
    if REPORT:
        Path(REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
