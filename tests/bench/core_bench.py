"""Core benchmark: action latency against one durable commit, history and stats at scale,
and `focus status` as a whole process.

    python -m tests.bench.core_bench [--sessions 1000000] [--rounds 300] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.domain.models import Bucket, Mode, Session, Status
from app.domain.rewards import day_runs
from app.domain.rollup import rollup_entries
from app.services import FocusService, TimerRules
from storage.local import open_repository

ZONE = ZoneInfo("UTC")


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {"p50_ms": round(pct(ms, 0.5), 3), "p99_ms": round(pct(ms, 0.99), 3), "n": len(ms)}


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return time.perf_counter() - t0


def floor_raw(folder: Path, rounds: int) -> list[float]:
    """One durable commit with the standard sqlite3 module and the store's pragmas."""
    path = folder / "floor-raw.db"
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, v INTEGER)")
    out = []
    for i in range(rounds):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (?, ?)", (uuid.uuid4().hex, i))
        conn.execute("COMMIT")
        out.append(time.perf_counter() - t0)
    conn.close()
    return out


async def actions(folder: Path, rounds: int) -> dict[str, list[float]]:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    repo = await open_repository(folder / "actions.db", ZONE, clock.now())
    svc = FocusService(repo, clock, ZONE, TimerRules())
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        times["start"].append(await timed(lambda: svc.start(task="bench", tags=["b"])))
        clock.advance(minutes=5)
        times["pause"].append(await timed(svc.pause))
        clock.advance(minutes=1)
        times["resume"].append(await timed(svc.resume))
        clock.advance(minutes=5)
        times["complete"].append(await timed(svc.complete))
        clock.advance(minutes=1)
    await repo.close()
    return times


def fake_sessions(n: int, user: uuid.UUID, client: uuid.UUID) -> Any:
    rng = random.Random(7)
    tasks = [f"task {i}" for i in range(200)]
    tags = ["deep", "mail", "study", "code", "read", "ops"]
    start = datetime(2026, 3, 1, tzinfo=UTC) - timedelta(minutes=30 * n)
    for i in range(n):
        started = start + timedelta(minutes=30 * i)
        mode = Mode.FOCUS if i % 4 else Mode.SHORT_BREAK
        planned = timedelta(minutes=25 if mode is Mode.FOCUS else 5)
        roll = rng.random()
        status = Status.COMPLETED if roll < 0.85 else Status.ABANDONED
        end = started + (planned if status is Status.COMPLETED else planned / 2)
        yield Session(
            id=uuid.UUID(int=rng.getrandbits(128), version=4),
            user_id=user,
            client_id=client,
            mode=mode,
            status=status,
            planned=planned,
            started_at=started,
            ends_at=end,
            task_title=rng.choice(tasks),
            tags=(rng.choice(tags),),
            focused=end - started,
            completed_at=end if status is Status.COMPLETED else None,
            abandoned_at=end if status is Status.ABANDONED else None,
            xp_awarded=25 if status is Status.COMPLETED and mode is Mode.FOCUS else 0,
            coins_awarded=5 if status is Status.COMPLETED and mode is Mode.FOCUS else 0,
            version=3,
            created_at=started,
            updated_at=end,
        )


def _stamp(instant: datetime | None) -> str | None:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if instant else None


def fill(path: Path, n: int) -> None:
    """Write `n` finished sessions and their rollups straight into the file (fast)."""
    conn = sqlite3.connect(path)
    user, client = (
        uuid.UUID(conn.execute("SELECT value FROM meta WHERE key=?", (k,)).fetchone()[0])
        for k in ("user_id", "client_id")
    )
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    batch: list[tuple[Any, ...]] = []
    sql = (
        "INSERT INTO sessions (id, user_id, client_id, mode, status, task_title, tags, "
        "planned_seconds, started_at, ends_at, focused_us, completed_at, abandoned_at, "
        "xp_awarded, coins_awarded, version, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    for s in fake_sessions(n, user, client):
        for d, k, m, b in rollup_entries(s, ZONE):
            totals[(d, k, m)] += b
        batch.append(
            (
                s.id.hex,
                user.hex,
                client.hex,
                s.mode.value,
                s.status.value,
                s.task_title,
                json.dumps(list(s.tags)),
                int(s.planned.total_seconds()),
                _stamp(s.started_at),
                _stamp(s.ends_at),
                int(s.focused.total_seconds() * 1_000_000),
                _stamp(s.completed_at),
                _stamp(s.abandoned_at),
                s.xp_awarded,
                s.coins_awarded,
                s.version,
                _stamp(s.created_at),
                _stamp(s.updated_at),
            )
        )
        if len(batch) >= 50_000:
            conn.executemany(sql, batch)
            batch.clear()
    conn.executemany(sql, batch)
    conn.executemany(
        "INSERT INTO rollups (user_id, dim, key, mode, completed, abandoned, expired, "
        "focused_seconds, xp, coins) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (
                user.hex,
                d,
                k,
                m,
                b.completed,
                b.abandoned,
                b.expired,
                b.focused_seconds,
                b.xp,
                b.coins,
            )
            for (d, k, m), b in totals.items()
        ],
    )
    longest, last_day, last_run = day_runs(
        date.fromisoformat(k)
        for (d, k, m), b in totals.items()
        if d == "day" and m == Mode.FOCUS.value and b.xp > 0
    )
    conn.execute(
        "INSERT INTO streak_cache VALUES (?,?,?,?)",
        (user.hex, longest, last_day.isoformat() if last_day else None, last_run),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def at_scale(path: Path, rounds: int) -> dict[str, Any]:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    repo = await open_repository(path, ZONE, clock.now())
    svc = FocusService(repo, clock, ZONE, TimerRules())
    first, deep, stats = [], [], []
    page = await svc.history(25)
    for _ in range(5):  # a deep cursor: 5,000 rows in
        page = await svc.history(1000, page.next_cursor)
    cursor = page.next_cursor
    for _ in range(rounds):
        first.append(await timed(lambda: svc.history(25)))
        deep.append(await timed(lambda: svc.history(25, cursor)))
        stats.append(await timed(svc.stats))
    await repo.close()
    return {"history_first": first, "history_deep": deep, "stats": stats}


def _process_times(argv: list[str], rounds: int, env: dict[str, str]) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        subprocess.run(argv, check=False, capture_output=True, env=env)
        out.append(time.perf_counter() - t0)
    return out


def processes(folder: Path, rounds: int) -> dict[str, list[float]]:
    """Whole processes, interleaved so a busy moment of the machine hits them all alike: a
    bare `python -c "import sqlite3"` (the floor) and the commands bound to keys and bars."""
    exe = str(Path(sys.executable).with_name("focus"))
    home = folder / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCUS_")}
    env |= {"HOME": str(home), "XDG_CONFIG_HOME": str(home / "c"), "XDG_DATA_HOME": str(home)}
    db = ["--db", str(folder / "cli.db")]
    subprocess.run([exe, *db, "start"], check=True, capture_output=True, env=env)
    subprocess.run([exe, *db, "abandon"], check=True, capture_output=True, env=env)
    cycle = [
        ("bare_python", [sys.executable, "-c", "import sqlite3"]),
        ("cli_start", [exe, *db, "start", "--minutes", "30"]),
        ("cli_statusline", [exe, *db, "statusline"]),
        ("cli_status", [exe, *db, "status"]),
        ("cli_pause", [exe, *db, "pause"]),
        ("cli_resume", [exe, *db, "resume"]),
        ("cli_complete", [exe, *db, "complete"]),
        ("cli_start_again", [exe, *db, "start", "--minutes", "30"]),
        ("cli_abandon", [exe, *db, "abandon"]),
    ]
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, argv in cycle:
            times[name.replace("_again", "")].extend(_process_times(argv, 1, env))
    return times


async def run(sessions: int, rounds: int, folder: Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    result["floor_raw_sqlite3"] = summary(floor_raw(folder, rounds))
    for name, samples in (await actions(folder, rounds)).items():
        result[name] = summary(samples)
    big = folder / "big.db"
    clock_now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    await (await open_repository(big, ZONE, clock_now)).close()
    t0 = time.perf_counter()
    fill(big, sessions)
    result["fill_seconds"] = round(time.perf_counter() - t0, 1)
    result["sessions"] = sessions
    for name, samples in (await at_scale(big, max(20, rounds // 10))).items():
        result[name] = summary(samples)
    for name, samples in processes(folder, max(10, rounds // 15)).items():
        result[name] = summary(samples)
    return result


def report(r: dict[str, Any]) -> str:
    floor = r["floor_raw_sqlite3"]["p50_ms"]
    bare = r["bare_python"]["p50_ms"]
    lines = [f"{'measure':24} {'p50 ms':>9} {'p99 ms':>9} {'ratio':>6}  target"]
    targets: dict[str, tuple[str, float, float]] = {
        "floor_raw_sqlite3": ("floor: one durable commit, sqlite3", floor, 0),
        "start": ("<= 3x the commit floor", floor, 3),
        "pause": ("<= 3x the commit floor", floor, 3),
        "resume": ("<= 3x the commit floor", floor, 3),
        "complete": ("<= 3x the commit floor", floor, 3),
        "history_first": ("< 5 ms (page of 25)", 0, 0),
        "history_deep": ("< 5 ms (page of 25, cursor 5,000 rows in)", 0, 0),
        "stats": ("< 100 ms", 0, 0),
        "bare_python": ('floor: python -c "import sqlite3"', bare, 0),
        "cli_statusline": ("<= 1.5x bare python (whole process)", bare, 1.5),
        "cli_status": ("<= 2x bare python", bare, 2),
        "cli_start": ("<= 8x bare python", bare, 8),
        "cli_pause": ("<= 8x bare python", bare, 8),
        "cli_resume": ("<= 8x bare python", bare, 8),
        "cli_complete": ("<= 8x bare python", bare, 8),
        "cli_abandon": ("<= 8x bare python", bare, 8),
    }
    for key, (goal, base, limit) in targets.items():
        p50 = r[key]["p50_ms"]
        ratio = f"{p50 / base:6.2f}" if base else " " * 6
        verdict = ("  ok" if p50 <= limit * base else "  MISSED") if limit else ""
        lines.append(f"{key:24} {p50:>9.2f} {r[key]['p99_ms']:>9.2f} {ratio}  {goal}{verdict}")
    lines.append(
        f"(history and stats at {r['sessions']:,} sessions; fill took {r['fill_seconds']} s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.core_bench")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--dir", help="where the databases go (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        result = asyncio.run(run(args.sessions, args.rounds, Path(tmp)))
    print(json.dumps(result, indent=2) if args.json else report(result))  # noqa: T201
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    sys.exit(main())
