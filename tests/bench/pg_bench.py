"""Postgres benchmark: the lifecycle actions, get, get active, and a history page of 25 at
1M sessions, through the store on the suite's local Postgres (the server `tests.pg` starts,
or `FOCUS_TEST_PG_URL`), logged in as a Focus user (row-level security in force), beside
the floors measured in the same run through raw asyncpg and the reference backend's
documented figures.

    python -m tests.bench.pg_bench [--sessions 1000000] [--rounds 300] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.domain.models import Bucket, Mode
from app.domain.rewards import day_runs
from app.domain.rollup import rollup_entries
from app.services import FocusService, TimerRules
from storage.codec import SESSION_COLUMNS, session_to_row
from storage.postgres import open_pg_repository
from tests.bench.core_bench import fake_sessions, summary, timed

ZONE = ZoneInfo("UTC")
BUCKETS = ("completed", "abandoned", "expired", "focused_seconds", "xp", "coins")

# The reference backend's documented targets on Postgres (its README), in ms.
REFERENCE = {
    "start": (2.0, 3.0),
    "get": (0.0, 1.0),
    "get_active": (2.0, 5.0),
    "complete": (8.0, 15.0),
    "history_first": (5.0, 10.0),
}


class Floors:
    """One-row durable commits through raw asyncpg: `BEGIN; INSERT; COMMIT` (a transaction,
    as `async with conn.transaction()` sends it: three round trips, like the SQLite floor's
    `BEGIN IMMEDIATE; INSERT; COMMIT`) and a lone autocommit `INSERT` (one round trip, the
    least any durable write can cost). Sampled between the actions, so the ratios compare
    figures taken under the same load."""

    INSERT = "INSERT INTO bench_floor VALUES ($1, $2)"

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.times: dict[str, list[float]] = defaultdict(list)

    @classmethod
    async def open(cls, url: str) -> Floors:
        import asyncpg

        conn = await asyncpg.connect(url)
        await conn.execute("CREATE TABLE bench_floor (id uuid PRIMARY KEY, v int NOT NULL)")
        return cls(conn)

    async def sample(self) -> None:
        t0 = time.perf_counter()
        async with self.conn.transaction():
            await self.conn.execute(self.INSERT, uuid.uuid4(), 1)
        self.times["floor_tx"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await self.conn.execute(self.INSERT, uuid.uuid4(), 2)
        self.times["floor_insert"].append(time.perf_counter() - t0)


async def actions(url: str, rounds: int, floors: Floors) -> dict[str, list[float]]:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    repo = await open_pg_repository(url, ZONE)
    svc = FocusService(repo, clock, ZONE, TimerRules())
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        await floors.sample()
        sid = (await svc.start(task="bench", tags=["b"])).id
        clock.advance(minutes=2)
        times["get"].append(await timed(lambda: repo.get_session(sid)))  # noqa: B023
        times["get_active"].append(await timed(svc.status))
        times["pause"].append(await timed(svc.pause))
        clock.advance(minutes=1)
        times["resume"].append(await timed(svc.resume))
        clock.advance(minutes=5)
        await floors.sample()
        times["complete"].append(await timed(svc.complete))
        clock.advance(minutes=1)
        times["start"].append(await timed(lambda: svc.start(task="bench", tags=["b"])))
        clock.advance(minutes=1)
        await svc.abandon()
        clock.advance(minutes=1)
    await repo.close()
    return times


def _records(n: int, user: uuid.UUID, client: uuid.UUID) -> Iterator[tuple[Any, ...]]:
    for s in fake_sessions(n, user, client):
        row = session_to_row(s)
        yield tuple(row[c] for c in SESSION_COLUMNS)


async def fill(admin_url: str, user: uuid.UUID, n: int) -> None:
    """`n` finished sessions of `user`, their rollups and streak, by COPY as the admin."""
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    client = uuid.uuid4()
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    for s in fake_sessions(n, user, client):
        for d, k, m, b in rollup_entries(s, ZONE):
            totals[(d, k, m)] += b
    # COPY speaks binary: json's binary form is its text.
    await conn.set_type_codec(
        "json",
        encoder=lambda v: json.dumps(v).encode(),
        decoder=lambda b: json.loads(b.decode()),
        schema="pg_catalog",
        format="binary",
    )
    await conn.copy_records_to_table(
        "sessions", records=_records(n, user, client), columns=list(SESSION_COLUMNS)
    )
    await conn.copy_records_to_table(
        "rollups",
        records=[
            (user, d, m, k, *(getattr(b, c) for c in BUCKETS)) for (d, k, m), b in totals.items()
        ],
        columns=["user_id", "dim", "mode", "key", *BUCKETS],
    )
    longest, last_day, last_run = day_runs(
        date.fromisoformat(k)
        for (d, k, m), b in totals.items()
        if d == "day" and m == Mode.FOCUS.value and b.xp > 0
    )
    await conn.execute(
        "INSERT INTO streak_cache VALUES ($1, $2, $3, $4)",
        user,
        longest,
        last_day.isoformat() if last_day else None,
        last_run,
    )
    # The stats are filed in UTC already (as for a user who has used Focus all along).
    await conn.execute("UPDATE user_state SET rollup_tz = 'UTC' WHERE user_id = $1", user)
    await conn.execute("ANALYZE")
    await conn.close()


KEYSET = (
    f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE user_id = $1 "
    "AND (started_at, id) < ($2, $3) ORDER BY started_at DESC, id DESC LIMIT $4"
)
FIRST = (
    f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE user_id = $1 "
    "ORDER BY started_at DESC, id DESC LIMIT $2"
)


async def at_scale(url: str, user: uuid.UUID, rounds: int) -> dict[str, list[float]]:
    """History pages and stats through the store, and the same keyset queries on raw
    asyncpg as the same user (row-level security in force on both)."""
    import asyncpg

    clock = FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    repo = await open_pg_repository(url, ZONE)
    svc = FocusService(repo, clock, ZONE, TimerRules())
    page = await svc.history(25)
    for _ in range(5):  # a deep cursor: 5,000 rows in
        page = await svc.history(1000, page.next_cursor)
    cursor = page.next_cursor
    deep_at = page.sessions[-1]
    raw = await asyncpg.connect(url)
    times: dict[str, list[float]] = defaultdict(list)

    async def raw_first() -> None:
        await raw.fetch(FIRST, user, 26)

    async def raw_deep() -> None:
        await raw.fetch(KEYSET, user, deep_at.started_at, deep_at.id, 26)

    for _ in range(rounds):
        times["history_first"].append(await timed(lambda: svc.history(25)))
        times["raw_first"].append(await timed(raw_first))
        times["history_deep"].append(await timed(lambda: svc.history(25, cursor)))
        times["raw_deep"].append(await timed(raw_deep))
        times["stats"].append(await timed(svc.stats))
        await svc.start(task="bench", tags=["b"])
        clock.advance(minutes=8)
        times["complete_big"].append(await timed(svc.complete))
        clock.advance(minutes=1)
    await raw.close()
    await repo.close()
    # A configured zone that differs re-files the whole history's stats cache, in pages.
    t0 = time.perf_counter()
    tokyo = await open_pg_repository(url, ZoneInfo("Asia/Tokyo"))
    times["refile"].append(time.perf_counter() - t0)
    await tokyo.close()
    return times


@contextlib.contextmanager
def server() -> Iterator[str]:
    from tests.pg import server_url

    with server_url() as url:
        yield url


async def run(server_url: str, sessions: int, rounds: int) -> dict[str, Any]:
    from tests.pg import add_user, create_database, init_server

    floor_db = await create_database(server_url)
    admin = await create_database(server_url)
    await init_server(admin)
    user = await add_user(admin)
    result: dict[str, Any] = {"sessions": sessions, "rounds": rounds}
    floors = await Floors.open(floor_db)
    for name, samples in (await actions(user["sync_url"], rounds, floors)).items():
        result[name] = summary(samples)
    await floors.conn.close()
    for name, samples in floors.times.items():
        result[name] = summary(samples)
    big = await add_user(admin)  # a user of its own, with the long history
    t0 = time.perf_counter()
    await fill(admin, uuid.UUID(big["user_id"]), sessions)
    result["fill_seconds"] = round(time.perf_counter() - t0, 1)
    scale = await at_scale(big["sync_url"], uuid.UUID(big["user_id"]), max(50, rounds // 3))
    for name, samples in scale.items():
        result[name] = summary(samples)
    return result


def _ratio(r: dict[str, Any], name: str, base: str) -> float:
    return float(r[name]["p50_ms"]) / float(r[base]["p50_ms"])


def report(r: dict[str, Any]) -> str:
    lines = [
        f"Postgres, {r['sessions']:,} sessions for the history and stats rows "
        f"(filled in {r['fill_seconds']} s); p50 / p99 over {r['rounds']} rounds",
        f"{'figure':<34}{'p50 ms':>9}{'p99 ms':>9}  target",
    ]

    def row(label: str, name: str, target: str = "") -> None:
        s = r[name]
        lines.append(f"{label:<34}{s['p50_ms']:>9.3f}{s['p99_ms']:>9.3f}  {target}")

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    def ref(name: str) -> str:
        low, high = REFERENCE[name]
        ok = r[name]["p50_ms"] < low or (low == 0 and r[name]["p50_ms"] < high)
        return f"reference {low:g}-{high:g} ms: {'ahead' if ok else 'NOT ahead'}"

    def floor(name: str) -> str:
        x, y = _ratio(r, name, "floor_tx"), _ratio(r, name, "floor_insert")
        return f"{x:.2f}x floor ({y:.2f}x a lone INSERT)"

    row("floor: BEGIN; INSERT; COMMIT", "floor_tx")
    row("a lone autocommit INSERT", "floor_insert")
    x = _ratio(r, "start", "floor_tx")
    row("start", "start", f"{floor('start')}, within 2x: {verdict(x <= 2)}; {ref('start')}")
    for name in ("pause", "resume"):
        row(name, name, floor(name))
    x = _ratio(r, "complete", "floor_tx")
    row(
        "complete (reward, ledger, streak)",
        "complete",
        f"{floor('complete')}, within 3x: {verdict(x <= 3)}; {ref('complete')}",
    )
    row("get (by id)", "get", ref("get"))
    row("get active (status)", "get_active", ref("get_active"))
    row("raw keyset page of 25, first", "raw_first")
    x = _ratio(r, "history_first", "raw_first")
    row(
        "history page of 25, first",
        "history_first",
        f"{x:.2f}x raw, within 2x: {verdict(x <= 2)}; {ref('history_first')}",
    )
    row("raw keyset page of 25, 5,000 deep", "raw_deep")
    x = _ratio(r, "history_deep", "raw_deep")
    row("history page of 25, 5,000 deep", "history_deep", f"{x:.2f}x raw: {verdict(x <= 2)}")
    row("stats", "stats")
    row("complete, at that history size", "complete_big", floor("complete_big"))
    row("re-file its stats (a zone change)", "refile", "once, in pages")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.pg_bench")
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args, _ = parser.parse_known_args(argv)  # `python -m tests.bench` passes core's options too
    with server() as url:
        result = asyncio.run(run(url, args.sessions, args.rounds))
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
