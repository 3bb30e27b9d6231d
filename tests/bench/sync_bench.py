"""Sync benchmark: a device's pending changes pushed to the suite's local Postgres (the server
`tests.pg` starts, or `FOCUS_TEST_PG_URL`, set up by `focus server init`) as a Focus user
(row-level security and the server's triggers in force), and pulled into an empty device,
beside figures measured in the same run: the naive baseline (one change per round trip),
the floor (the same final rows by COPY), the round trips per batch at three batch sizes,
and the two set-based ways to apply a batch (`unnest` arrays, COPY into a temp table).

The changes are the ones the services write: 2,000 sessions on a real device (FocusService
on a FakeClock), each started, paused, resumed and completed with its award, five outbox
rows a session: 10,000 pending changes. The pull's 10,000 rows come from a second device
of 5,000 sessions (their 5,000 session rows and 5,000 awards), pushed once beforehand.

    python -m tests.bench.sync_bench [--changes 10000] [--pull-rows 10000] [--rounds 5]
                                     [--dir DIR] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from app.clock import FakeClock
from app.domain.models import LedgerEntry, Session
from app.services import FocusService, TimerRules
from storage.codec import SESSION_COLUMNS, ledger_to_row, session_to_row
from storage.local import open_repository
from storage.pg_connect import Timeouts
from storage.postgres import PgConn, check_schema, open_conn, session_from_pg, whoami
from storage.sql import SqlRepository
from storage.sync import SyncTarget, sync
from storage.sync import server as srv
from storage.sync.device import claim, ledger_of, read_outbox, session_of
from storage.sync.pull import pull
from storage.sync.push import push
from tests.bench.core_bench import summary

ZONE = ZoneInfo("UTC")
PER_SESSION = 5
"""Outbox rows a session writes: start, pause, resume, and the completion (the session and
its award)."""
BATCHES = (100, 1000, 10_000)
DEFAULT_BATCH = SyncTarget("postgresql://x").batch_size
LIMIT_MS = 500.0
TAGS = ("deep", "mail", "study", "code", "read", "ops")

_PUSHED = ", ".join(srv.PUSHED_SESSION)
_LEDGER = ", ".join(srv.LEDGER_COLUMNS)
# The engine's merge rule (ON CONFLICT ... WHERE ...), shared by the naive baseline and the
# COPY-into-a-temp-table alternative.
_MERGE = srv.UPSERT_SESSIONS[srv.UPSERT_SESSIONS.index(" ON CONFLICT") :]
NAIVE_SESSION = (
    f"INSERT INTO sessions ({_PUSHED}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(srv.PUSHED_SESSION) + 1))}){_MERGE}"
)
NAIVE_LEDGER = (
    f"INSERT INTO ledger ({_LEDGER}) VALUES "
    f"({', '.join(f'${i}' for i in range(1, len(srv.LEDGER_COLUMNS) + 1))}) "
    "ON CONFLICT DO NOTHING"
)
NAIVE_STAMP = (
    "UPDATE user_state SET change_stamp = change_stamp + 1 WHERE user_id = $1 "
    "RETURNING change_stamp"
)
NAIVE_DONE = (
    "INSERT INTO sync_clients (user_id, client_id, last_mutation_id, updated_at) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) DO UPDATE SET "
    "last_mutation_id = excluded.last_mutation_id, updated_at = excluded.updated_at"
)
TEMP_TABLES = (
    "CREATE TEMP TABLE push_sessions (LIKE sessions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS; "
    "CREATE TEMP TABLE push_ledger (LIKE ledger INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
TEMP_SESSIONS = f"INSERT INTO sessions ({_PUSHED}) SELECT {_PUSHED} FROM push_sessions{_MERGE}"
TEMP_LEDGER = (
    f"INSERT INTO ledger ({_LEDGER}) SELECT {_LEDGER} FROM push_ledger "
    "ON CONFLICT DO NOTHING RETURNING id"
)


# -- devices ----------------------------------------------------------------------------


async def make_device(path: Path, sessions: int, end: datetime) -> int:
    """A device that recorded `sessions` focus sessions through the services, the last one
    finishing before `end`; its pending changes."""
    clock = FakeClock(end - timedelta(minutes=30 * sessions + 60))
    repo = await open_repository(path, ZONE, clock.now())
    svc = FocusService(repo, clock, ZONE, TimerRules())
    for i in range(sessions):
        await svc.start(task=f"task {i % 40}", tags=[TAGS[i % len(TAGS)]])
        clock.advance(minutes=5)
        await svc.pause()
        clock.advance(minutes=1)
        await svc.resume()
        clock.advance(minutes=20)
        await svc.complete()
        clock.advance(minutes=4)
    pending = await repo.pending_changes()
    await repo.close()
    with contextlib.closing(sqlite3.connect(path)) as conn:  # one file to copy
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return pending


@dataclasses.dataclass
class Device:
    """A device's store, connected and adopted by a server user (untimed set-up)."""

    repo: SqlRepository
    conn: PgConn
    link: srv.Link
    user_id: uuid.UUID

    async def close(self) -> None:
        await self.conn.close()
        await self.repo.close()


class Bench:
    def __init__(self, admin_url: str, folder: Path, now: datetime) -> None:
        self.admin_url = admin_url
        self.folder = folder
        self.now = now

    async def user(self) -> dict[str, Any]:
        from tests.pg import add_user

        return await add_user(self.admin_url)

    def copy(self, template: Path | None) -> Path:
        path = self.folder / f"device-{uuid.uuid4().hex[:12]}.db"
        if template is not None:
            shutil.copyfile(template, path)
        return path

    async def attach(self, template: Path | None, sync_url: str) -> Device:
        """A copy of `template` (None: a new, empty store) as a device of the URL's user,
        connected and adopted: what a first `sync()` does before it pushes."""
        repo = await open_repository(self.copy(template), ZONE, self.now)
        target = SyncTarget(sync_url).target()
        conn = await open_conn(target, Timeouts())
        await check_schema(conn)
        user_id = await whoami(conn)
        await claim(repo, user_id, target.user, target.shown)
        return Device(repo, conn, srv.Link(conn), user_id)


# -- the measurements ----------------------------------------------------------------------


async def timed_push(
    bench: Bench, template: Path, changes: int, batch: int, sync_url: str | None = None
) -> dict[str, Any]:
    """`push()` of every pending change of a copy of `template`, to a new user: outbox read,
    server transactions, local deletes."""
    url = sync_url or (await bench.user())["sync_url"]
    dev = await bench.attach(template, url)
    try:
        t0 = time.perf_counter()
        result = await push(dev.link, dev.repo, bench.now, batch)
        seconds = time.perf_counter() - t0
        left = await dev.repo.pending_changes()
    finally:
        await dev.close()
    if result.pushed != changes or result.rejected or left:
        raise RuntimeError(
            f"push of {changes}: {result.pushed} pushed, {len(result.rejected)} rejected "
            f"({result.rejected[:1]}), {left} left"
        )
    return {
        "seconds": seconds,
        "round_trips": dev.link.round_trips,
        "batches": result.batches,
        "written": result.written,
        "user_id": dev.user_id,
        "sync_url": url,
    }


async def timed_naive(
    bench: Bench, template: Path, changes: int, one_tx: bool
) -> tuple[float, int]:
    """The same push one change per round trip: outbox read, the user's change stamp
    bumped, one INSERT ... ON CONFLICT per change (the session changes in order, then the
    awards: an award's check needs its completed session), the device's last change id,
    local delete; in one server transaction (`one_tx`: BEGIN and COMMIT around it) or each
    statement its own (autocommit). No stats cache or streak (the engine writes both): a
    baseline that does less than the engine."""
    dev = await bench.attach(template, (await bench.user())["sync_url"])
    link, uid, cid = dev.link, dev.user_id, dev.repo.identity.client_id
    try:
        t0 = time.perf_counter()
        pending = await read_outbox(dev.repo.conn, changes + 1)
        through = pending[-1].mutation_id
        ordered = sorted(pending, key=lambda p: (p.entity == "ledger", p.mutation_id))
        if one_tx:
            await link.execute("BEGIN")
        stamp = int((await link.fetch(NAIVE_STAMP, uid))[0][0])
        for change in ordered:
            if change.entity == "session":
                row = session_to_row(session_of(change, uid))
                args = [row[c] for c in SESSION_COLUMNS] + [stamp, cid]
                await link.execute(NAIVE_SESSION, *args)
            else:
                entry = ledger_to_row(ledger_of(change, uid))
                await link.execute(
                    NAIVE_LEDGER, *[entry[c] for c in srv.LEDGER_COLUMNS[:-1]], stamp
                )
        await link.execute(NAIVE_DONE, uid, cid, through, bench.now)
        if one_tx:
            await link.execute("COMMIT")
        async with dev.repo.transaction(local=False) as tx:
            await tx.conn.execute("DELETE FROM outbox WHERE mutation_id <= :m", {"m": through})
            await tx.commit()
        seconds = time.perf_counter() - t0
        left = await dev.repo.pending_changes()
    finally:
        await dev.close()
    if len(pending) != changes or left:
        raise RuntimeError(f"naive push: {len(pending)} read, {left} left")
    return seconds, link.round_trips


@dataclasses.dataclass
class FinalRows:
    """What the server holds after a push: the floor's records and the write methods' input."""

    session_records: list[tuple[Any, ...]]
    ledger_records: list[tuple[Any, ...]]
    sessions: list[tuple[Session, uuid.UUID]]
    ledger: list[LedgerEntry]


async def admin_conn(url: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url)
    # COPY speaks binary: json's binary form is its text.
    await conn.set_type_codec(
        "json",
        encoder=lambda v: json.dumps(v).encode(),
        decoder=lambda b: json.loads(b.decode()),
        schema="pg_catalog",
        format="binary",
    )
    return conn


async def final_rows(admin: Any, user_id: uuid.UUID) -> FinalRows:
    s_rows = await admin.fetch(
        f"SELECT {_PUSHED} FROM sessions WHERE user_id = $1 ORDER BY started_at", user_id
    )
    l_rows = await admin.fetch(
        f"SELECT {_LEDGER} FROM ledger WHERE user_id = $1 ORDER BY created_at", user_id
    )
    width = len(SESSION_COLUMNS)
    sessions = [(session_from_pg(tuple(r)[:width]), uuid.UUID(bytes=r[-1].bytes)) for r in s_rows]
    ledger = [
        LedgerEntry(
            uuid.UUID(bytes=r[0].bytes),
            uuid.UUID(bytes=r[1].bytes),
            r[2],
            uuid.UUID(bytes=r[3].bytes),
            r[4],
            r[5],
            r[6],
            r[7],
        )
        for r in l_rows
    ]
    return FinalRows([tuple(r) for r in s_rows], [tuple(r) for r in l_rows], sessions, ledger)


async def timed_floor(admin: Any, rows: FinalRows) -> float:
    """The same final rows in one `copy_records_to_table` per table (sessions, awards), one
    transaction, as the admin into scratch tables of the same shape (indexes included, no
    triggers, no row-level security)."""
    await admin.execute("TRUNCATE bench_floor_sessions, bench_floor_ledger")
    t0 = time.perf_counter()
    async with admin.transaction():
        await admin.copy_records_to_table(
            "bench_floor_sessions", records=rows.session_records, columns=srv.PUSHED_SESSION
        )
        await admin.copy_records_to_table(
            "bench_floor_ledger", records=rows.ledger_records, columns=srv.LEDGER_COLUMNS
        )
    return time.perf_counter() - t0


def _chunks(rows: FinalRows, per: int) -> list[tuple[list[tuple[Session, uuid.UUID]], list[Any]]]:
    user = uuid.uuid4()  # a user of its own: every row is new, as in a first push
    sessions = [(dataclasses.replace(s, user_id=user), w) for s, w in rows.sessions]
    ledger = [dataclasses.replace(e, user_id=user) for e in rows.ledger]
    return [
        (sessions[i : i + per], ledger[i : i + per]) for i in range(0, max(len(sessions), 1), per)
    ]


async def timed_unnest(admin: Any, rows: FinalRows, per: int) -> float:
    """The engine's statements (one `unnest` upsert per table), `per` sessions and their
    awards a transaction, arrays built in the timing."""
    chunks = _chunks(rows, per)
    t0 = time.perf_counter()
    for sessions, ledger in chunks:
        async with admin.transaction():
            await admin.fetch(srv.UPSERT_SESSIONS, *srv.session_rows(sessions, 1))
            await admin.fetch(srv.INSERT_LEDGER, *srv.ledger_rows(ledger, 1))
    return time.perf_counter() - t0


async def timed_temp_copy(admin: Any, rows: FinalRows, per: int) -> float:
    """The alternative: COPY into temp tables (created once per sync, emptied at each
    commit), then one INSERT ... SELECT ... ON CONFLICT per table with the same merge rule."""
    chunks = _chunks(rows, per)
    t0 = time.perf_counter()
    await admin.execute(TEMP_TABLES)
    for sessions, ledger in chunks:
        s_records = []
        for session, writer in sorted(sessions, key=lambda p: p[0].status.is_open):
            row = session_to_row(session)
            s_records.append((*(row[c] for c in SESSION_COLUMNS), 1, writer))
        l_records = []
        for entry in ledger:
            row = ledger_to_row(entry)
            l_records.append((*(row[c] for c in srv.LEDGER_COLUMNS[:-1]), 1))
        async with admin.transaction():
            await admin.copy_records_to_table(
                "push_sessions", records=s_records, columns=srv.PUSHED_SESSION
            )
            await admin.fetch(TEMP_SESSIONS)
            await admin.copy_records_to_table(
                "push_ledger", records=l_records, columns=srv.LEDGER_COLUMNS
            )
            await admin.fetch(TEMP_LEDGER)
    seconds = time.perf_counter() - t0
    await admin.execute("DROP TABLE push_sessions, push_ledger")
    return seconds


async def timed_pull(bench: Bench, sync_url: str, rows: int) -> tuple[float, int]:
    """`pull()` into a new, empty store adopted by the user (untimed: creating the file,
    connecting, the adoption): every row of the user, in pages, applied locally."""
    dev = await bench.attach(None, sync_url)
    try:
        t0 = time.perf_counter()
        out = await pull(dev.link, dev.repo, bench.now)
        seconds = time.perf_counter() - t0
    finally:
        await dev.close()
    if out.pulled != rows or out.skipped:
        raise RuntimeError(f"pull of {rows}: {out.pulled} pulled, skipped {out.skipped[:1]}")
    return seconds, dev.link.round_trips


async def timed_first_sync(bench: Bench, sync_url: str, rows: int) -> tuple[float, int]:
    """The whole first `sync()` of a new, empty store: connect, checks, adopt, push
    (nothing), pull, state saved."""
    repo = await open_repository(bench.copy(None), ZONE, bench.now)
    try:
        t0 = time.perf_counter()
        report = await sync(repo, SyncTarget(sync_url), bench.now)
        seconds = time.perf_counter() - t0
    finally:
        await repo.close()
    if report.pulled != rows or report.skipped:
        raise RuntimeError(f"first sync of {rows}: {report.pulled} pulled")
    return seconds, report.round_trips


# -- the run -------------------------------------------------------------------------------


@contextlib.contextmanager
def server() -> Iterator[str]:
    from tests.pg import server_url

    with server_url() as url:
        yield url


async def run(
    server_url: str, changes: int, pull_rows: int, rounds: int, folder: Path
) -> dict[str, Any]:
    from tests.pg import create_database, init_server

    sessions = changes // PER_SESSION
    big_sessions = pull_rows // 2
    admin_url = await create_database(server_url)
    await init_server(admin_url)
    bench = Bench(admin_url, folder, datetime.now(UTC).replace(second=0, microsecond=0))
    result: dict[str, Any] = {
        "load_before": round(os.getloadavg()[0], 2),
        "changes": changes,
        "sessions": sessions,
        "rounds": rounds,
        "pull_rows": pull_rows,
    }

    template = folder / "device.db"
    t0 = time.perf_counter()
    made = await make_device(template, sessions, bench.now)
    result["device_seconds"] = round(time.perf_counter() - t0, 1)
    if made != changes:
        raise RuntimeError(f"the device wrote {made} changes, not {changes}")
    big = folder / "big.db"
    big_changes = await make_device(big, big_sessions, bench.now)
    result["big_changes"] = big_changes
    big_push = await timed_push(bench, big, big_changes, DEFAULT_BATCH)
    result["big_push_ms"] = round(big_push["seconds"] * 1000, 1)

    admin = await admin_conn(admin_url)
    await admin.execute("CREATE TABLE bench_floor_sessions (LIKE sessions INCLUDING ALL)")
    await admin.execute("CREATE TABLE bench_floor_ledger (LIKE ledger INCLUDING ALL)")
    times: dict[str, list[float]] = defaultdict(list)
    trips: dict[str, list[int]] = defaultdict(list)
    batches: dict[str, int] = {}
    rows: FinalRows | None = None
    same_rows = 0
    try:
        for _ in range(rounds):
            pushed: dict[int, dict[str, Any]] = {}
            for size in BATCHES:
                pushed[size] = await timed_push(bench, template, changes, size)
                times[f"push_{size}"].append(pushed[size]["seconds"])
                trips[f"push_{size}"].append(pushed[size]["round_trips"])
                batches[f"push_{size}"] = pushed[size]["batches"]
            for name, one_tx in (("naive", True), ("naive_autocommit", False)):
                seconds, n = await timed_naive(bench, template, changes, one_tx)
                times[name].append(seconds)
                trips[name].append(n)
            if rows is None:
                rows = await final_rows(admin, pushed[DEFAULT_BATCH]["user_id"])
                same_rows = len(rows.sessions) + len(rows.ledger)
            times["floor_copy"].append(await timed_floor(admin, rows))
            for per, tag in ((sessions // 10, "10"), (sessions, "1")):
                times[f"write_unnest_{tag}"].append(await timed_unnest(admin, rows, per))
                times[f"write_temp_copy_{tag}"].append(await timed_temp_copy(admin, rows, per))
            source = pushed[DEFAULT_BATCH]["sync_url"]
            for name, url, count in (
                ("same", source, same_rows),
                ("big", big_push["sync_url"], big_sessions * 2),
            ):
                seconds, n = await timed_pull(bench, url, count)
                times[f"pull_{name}"].append(seconds)
                trips[f"pull_{name}"].append(n)
                seconds, n = await timed_first_sync(bench, url, count)
                times[f"first_sync_{name}"].append(seconds)
                trips[f"first_sync_{name}"].append(n)
    finally:
        await admin.close()
    for name, samples in times.items():
        result[name] = summary(samples)
    result["round_trips"] = {name: sorted(set(n)) for name, n in trips.items()}
    result["batches"] = batches
    result["same_rows"] = same_rows
    result["load_after"] = round(os.getloadavg()[0], 2)
    return result


# -- the report ----------------------------------------------------------------------------


def _p50(r: dict[str, Any], name: str) -> float:
    return float(r[name]["p50_ms"])


def verdicts(r: dict[str, Any]) -> dict[str, Any]:
    push = f"push_{DEFAULT_BATCH}"
    per_batch = {
        size: r["round_trips"][f"push_{size}"][0] / r["batches"][f"push_{size}"] for size in BATCHES
    }
    constant = len(set(per_batch.values())) == 1 and all(
        len(r["round_trips"][f"push_{size}"]) == 1 for size in BATCHES
    )
    naive = _p50(r, "naive") / _p50(r, push)
    floor = _p50(r, push) / _p50(r, "floor_copy")
    return {
        "push_ms": _p50(r, push),
        "push_under_500ms": _p50(r, push) < LIMIT_MS,
        "naive_over_push": round(naive, 1),
        "naive_20x": naive >= 20,
        "naive_autocommit_over_push": round(_p50(r, "naive_autocommit") / _p50(r, push), 1),
        "push_over_floor": round(floor, 2),
        "floor_3x": floor <= 3,
        "round_trips_per_batch": per_batch,
        "round_trips_constant": constant,
        "pull_ms": _p50(r, "pull_big"),
        "pull_under_500ms": _p50(r, "pull_big") < LIMIT_MS,
        "pull_same_under_500ms": _p50(r, "pull_same") < LIMIT_MS,
        "unnest_faster": {
            tag: _p50(r, f"write_unnest_{tag}") <= _p50(r, f"write_temp_copy_{tag}")
            for tag in ("10", "1")
        },
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _joined(values: list[int]) -> str:
    return "/".join(map(str, values))


class Table:
    """Rows of (label, p50, p99, note), the label column as wide as its longest label."""

    def __init__(self, r: dict[str, Any], note_head: str = "target") -> None:
        self.r = r
        self.rows: list[tuple[str, str, str]] = []
        self.note_head = note_head

    def row(self, label: str, name: str, note: str = "") -> None:
        self.rows.append((label, name, note))

    def lines(self) -> list[str]:
        width = max(len(label) for label, _, _ in self.rows) + 2
        out = [f"{'figure':<{width}}{'p50 ms':>9}{'p99 ms':>9}  {self.note_head}".rstrip()]
        for label, name, note in self.rows:
            s = self.r[name]
            out.append(f"{label:<{width}}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}  {note}".rstrip())
        return out


def report(r: dict[str, Any]) -> str:
    v = verdicts(r)
    push = f"push_{DEFAULT_BATCH}"
    lines = [
        f"Sync on Postgres: {r['changes']:,} pending changes over {r['sessions']:,} sessions "
        "(each started, paused, resumed and completed with its award through the services; "
        f"the device made in {r['device_seconds']} s), pushed as a Focus user (row-level "
        f"security and the server's checks in force); p50 / p99 over {r['rounds']} rounds "
        f"(load average {r['load_before']} before, {r['load_after']} after, "
        f"{os.cpu_count()} CPUs)",
    ]
    t = Table(r)
    t.row(
        f"push, batch {DEFAULT_BATCH:,} (default): outbox read to local delete",
        push,
        f"< {LIMIT_MS:g} ms: {_verdict(v['push_under_500ms'])}",
    )
    for size in BATCHES:
        if size != DEFAULT_BATCH:
            t.row(f"push, batch {size:,}", f"push_{size}")
    t.row(
        "naive: a change per round trip, in one transaction",
        "naive",
        f"push {v['naive_over_push']:.1f}x faster, >= 20x: {_verdict(v['naive_20x'])}",
    )
    t.row(
        "naive: a change per round trip, autocommit",
        "naive_autocommit",
        f"push {v['naive_autocommit_over_push']:.1f}x faster",
    )
    t.row(
        "floor: the final rows by COPY (admin, scratch tables)",
        "floor_copy",
        f"push {v['push_over_floor']:.2f}x it, <= 3x: {_verdict(v['floor_3x'])}",
    )
    lines += t.lines()
    lines.append(
        f"  ({r['same_rows']:,} final rows, {r['sessions']:,} sessions and their awards: the "
        "floor copies them in one copy_records_to_table per table, one transaction, indexes "
        f"kept, no triggers; the naive push sends each of the {r['changes']:,} changes as one "
        "INSERT ... ON CONFLICT and writes no stats cache or streak)"
    )

    lines += ["", f"round trips, push of {r['changes']:,} changes"]
    lines.append(f"{'batch size':>18}{'batches':>9}{'round trips':>13}{'per batch':>11}")
    for size in BATCHES:
        name = f"push_{size}"
        lines.append(
            f"{size:>18,}{r['batches'][name]:>9}{_joined(r['round_trips'][name]):>13}"
            f"{v['round_trips_per_batch'][size]:>11.1f}"
        )
    for name in ("naive", "naive_autocommit"):
        lines.append(f"{name.replace('_', ' '):>18}{'':>9}{_joined(r['round_trips'][name]):>13}")
    lines.append(
        f"  round trips per batch constant: {_verdict(v['round_trips_constant'])} (the outbox "
        "read and the local delete are not round trips)"
    )

    lines += [
        "",
        "applying the final rows set-based, as the admin role (`focus server init` revokes "
        "TEMPORARY: a client role may not create temp tables), triggers in force",
    ]
    t = Table(r, "")
    per10 = r["sessions"] // 10
    for tag, label in (
        ("10", f"10 transactions of {per10:,} sessions + awards"),
        ("1", f"1 transaction of {r['sessions']:,} sessions + awards"),
    ):
        ratio = _p50(r, f"write_temp_copy_{tag}") / _p50(r, f"write_unnest_{tag}")
        t.row(f"unnest arrays (the engine's), {label}", f"write_unnest_{tag}")
        t.row(
            f"COPY into temp tables + upsert, {label}",
            f"write_temp_copy_{tag}",
            f"{ratio:.2f}x unnest",
        )
    lines += t.lines()
    faster = v["unnest_faster"]
    if all(faster.values()):
        lines.append("  unnest is the faster at both sizes: the engine's choice stands")
    elif not any(faster.values()):
        lines.append("  COPY into a temp table is the faster at both sizes")
    else:
        lines.append("  neither is the faster at both sizes")

    big = r["pull_rows"]
    lines += ["", "pull into an empty device (a new SQLite file)"]
    t = Table(r)
    t.row(
        f"pull(), {big:,} rows ({big // 2:,} sessions + awards)",
        "pull_big",
        f"< {LIMIT_MS:g} ms: {_verdict(v['pull_under_500ms'])}",
    )
    t.row(f"whole first sync(), {big:,} rows", "first_sync_big")
    t.row(
        f"pull(), the pushed {r['same_rows']:,} rows",
        "pull_same",
        f"< {LIMIT_MS:g} ms: {_verdict(v['pull_same_under_500ms'])}",
    )
    t.row(f"whole first sync(), the pushed {r['same_rows']:,} rows", "first_sync_same")
    lines += t.lines()
    lines.append(
        f"  round trips: pull() {_joined(r['round_trips']['pull_big'])} and "
        f"{_joined(r['round_trips']['pull_same'])}; whole first sync() "
        f"{_joined(r['round_trips']['first_sync_big'])} and "
        f"{_joined(r['round_trips']['first_sync_same'])} (the {big:,}-row user's "
        f"{r['big_changes']:,} changes pushed once beforehand, in {r['big_push_ms']:,.0f} ms)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.sync_bench")
    parser.add_argument("--changes", type=int, default=10_000, help="a multiple of 5")
    parser.add_argument("--pull-rows", type=int, default=10_000, help="an even number")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", help="where the device files go (default: a temp dir)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.changes < 10 * PER_SESSION or args.changes % PER_SESSION:
        parser.error(f"--changes: a multiple of {PER_SESSION}, at least {10 * PER_SESSION}")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, server() as url:
        result = asyncio.run(run(url, args.changes, args.pull_rows, args.rounds, Path(tmp)))
    if args.json:
        result["verdicts"] = verdicts(result)
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
