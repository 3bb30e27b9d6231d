"""Row-level security, the statement kinds tests/server/test_isolation.py does not try: B
(a user with a real login, who knows every id of A's rows) uses COPY FROM, MERGE, writes
that read (INSERT ... SELECT, UPDATE ... FROM, DELETE ... USING, a CTE), EXPLAIN ANALYZE
and the statistics views against every table. None reads, writes or reveals a row of
A's; A's rows are byte-for-byte what they were.

And a client's table lock cannot stall another user's sync past its timeouts: B may take
a lock on a table it can write (Postgres allows that to anyone with UPDATE), A's sync then
fails within its lock timeout with one line, and goes through once B lets go.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.clock import FakeClock
from app.domain.errors import UnavailableError
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.pg_connect import Timeouts
from storage.sync import SyncTarget, sync
from tests.conftest import START
from tests.server.conftest import World, world
from tests.server.support import TABLES, attempt, columns, connection, primary_keys, q

__all__ = ["world"]  # the server tests' fixture: A with rows in every table, and B

pytestmark = pytest.mark.postgres


def leaks(world: World, text: str) -> list[str]:
    """Which of A's marks (user id, login, any id of A's rows) `text` holds."""
    marks = [str(world.a_id), world.a["role"], str(world.data.library), str(world.data.track)]
    marks += [str(s) for s in world.data.sessions] + world.data.idempotency_keys
    return [m for m in marks if m in text]


async def test_copy_from_is_refused_on_every_table(world: World) -> None:
    problems = []
    async with connection(world.admin) as admin, connection(world.b["sync_url"]) as b:
        cols = await columns(admin)
        for table in TABLES:
            row = world.before[table][0] if world.before[table] else None
            if row is None:
                continue
            names = [c for c in cols[table] if c in row]
            for who in (world.a_id, world.b_id):
                values = {**row, "user_id": who} if "user_id" in row else dict(row)
                line = "\t".join(
                    "\\N" if values[c] is None else str(values[c]).replace("\t", " ") for c in names
                )
                try:
                    await b.copy_to_table(
                        table, source=io.BytesIO((line + "\n").encode()), columns=names
                    )
                except asyncpg.PostgresError as exc:
                    if exc.sqlstate not in ("42501", "0A000"):
                        problems.append(f"{table} as {who}: {exc.sqlstate} {exc}")
                    if leaks(world, str(exc)) and who != world.a_id:
                        problems.append(f"{table}: the refusal names A: {exc}")
                    continue
                problems.append(f"COPY FROM into {table} with user {who} was taken")
    assert problems == [], "\n".join(problems)
    assert await world.a_rows() == world.before


async def test_merge_touches_nothing_of_a(world: World) -> None:
    """MERGE on A's keys: A's rows never match (invisible), so no UPDATE or DELETE branch
    runs; the INSERT branch with A's user is refused by the policy."""
    problems = []
    async with connection(world.admin) as admin, connection(world.b["sync_url"]) as b:
        keys = await primary_keys(admin)
        types = {
            (r[0], r[1]): r[2]
            for r in await admin.fetch(
                "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND a.attnum > 0"
            )
        }
        for table in TABLES:
            key = list(keys[table])  # user_id included: A's
            if not world.before[table]:
                continue
            first = q(key[-1])
            for row in world.before[table]:
                on = " AND ".join(f"t.{q(c)} = s.{q(c)}" for c in key)
                src = ", ".join(
                    f"${i}::{types[(table, c)]} AS {q(c)}" for i, c in enumerate(key, 1)
                )
                args = [row[c] for c in key]
                for action in (
                    f"UPDATE SET {first} = t.{first}",
                    "DELETE",
                    "DO NOTHING",
                ):
                    sql = (
                        f"MERGE INTO {q(table)} AS t USING (SELECT {src}) AS s ON {on} "
                        f"WHEN MATCHED THEN {action}"
                    )
                    out = await attempt(b, sql, *args)
                    if out.refused and not out.denied:
                        problems.append(f"{table} {action}: {out.shown()}")
                    elif not out.refused and out.status != "MERGE 0":
                        problems.append(f"{table} {action}: matched A's row: {out.status}")
                if "user_id" in row:
                    names = ", ".join(q(c) for c in row)
                    values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
                    sql = (
                        f"MERGE INTO {q(table)} AS t USING (SELECT 1) AS s ON false "
                        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
                    )
                    out = await attempt(b, sql, *row.values())
                    if not out.denied:
                        problems.append(f"{table} MERGE INSERT as A: {out.shown()}")
    assert problems == [], "\n".join(problems)
    assert await world.a_rows() == world.before


async def test_writes_that_read_take_nothing_of_a(world: World) -> None:
    """Statements that write B's rows from what they read: A's rows are not there to read."""
    a_session = world.data.sessions[0]
    b_session = world.b_data.sessions[0]
    async with connection(world.b["sync_url"]) as b:
        before = await b.fetchrow("SELECT task_title FROM sessions WHERE id = $1", b_session)
        checks = [
            (
                "UPDATE sessions AS t SET task_title = s.task_title FROM sessions AS s "
                "WHERE s.id = $1 AND t.id = $2 RETURNING t.task_title",
                [a_session, b_session],
            ),
            (
                "UPDATE sessions SET task_title = (SELECT task_title FROM sessions AS s "
                "WHERE s.user_id = $1 LIMIT 1) WHERE id = $2 AND "
                "EXISTS (SELECT 1 FROM sessions WHERE user_id = $1) RETURNING task_title",
                [world.a_id, b_session],
            ),
            (
                "DELETE FROM rollups AS r USING sessions AS s WHERE s.user_id = $1 "
                "AND r.user_id = s.user_id RETURNING r.*",
                [world.a_id],
            ),
            (
                "WITH a AS (SELECT * FROM ledger WHERE user_id = $1) "
                "INSERT INTO sync_rejections (user_id, client_id, mutation_id, entity, "
                "entity_id, reason, created_at) SELECT $2, $3, 999999, 'session', "
                "a.session_id, a.idempotency_key, a.created_at FROM a RETURNING *",
                [world.a_id, world.b_id, uuid.uuid4()],
            ),
            (
                "INSERT INTO libraries (user_id, id, name, description, created_at, "
                "updated_at) SELECT $2, gen_random_uuid(), 'copy ' || name, description, "
                "created_at, updated_at FROM libraries WHERE user_id = $1 RETURNING *",
                [world.a_id, world.b_id],
            ),
        ]
        for sql, args in checks:
            out = await attempt(b, sql, *args)
            assert not out.refused or out.denied, (sql, out.shown())
            assert out.rows == (), (sql, out.rows)
            assert not leaks(world, repr(out.rows)), sql
        after = await b.fetchrow("SELECT task_title FROM sessions WHERE id = $1", b_session)
        assert after == before
    assert await world.a_rows() == world.before


async def test_plans_and_statistics_show_b_nothing_of_a(world: World) -> None:
    async with connection(world.admin) as admin, connection(world.b["sync_url"]) as b:
        await admin.execute("ANALYZE")
        cols = await columns(admin)
        for table in TABLES:
            where = (
                "WHERE user_id = $1" if "user_id" in cols[table] else "WHERE $1::uuid IS NOT NULL"
            )
            out = await attempt(
                b,
                f"EXPLAIN (ANALYZE, VERBOSE, COSTS OFF) SELECT * FROM {q(table)} {where}",
                world.a_id,
            )
            text = "\n".join(str(r[0]) for r in out.rows)
            assert not out.refused or out.denied, (table, out.shown())
            shown = leaks(world, text.replace(str(world.a_id), ""))  # the parameter itself
            assert shown == [], (table, shown, text)
            if "user_id" in cols[table] and table not in ("meta", "alembic_version"):
                assert "rows=0 loops" in text or out.denied, (table, text)
        # Other users' statements and their settings: hidden.
        await admin.execute("SELECT 1")
        activity = await b.fetch(
            "SELECT usename, query FROM pg_stat_activity WHERE usename IS NOT NULL "
            "AND usename <> current_user"
        )
        assert all(r["query"] in ("<insufficient privilege>", None) for r in activity), [
            tuple(r) for r in activity
        ]
        assert await b.fetchval("SELECT count(*) FROM pg_stats WHERE schemaname = 'public'") == 0
        for view in ("pg_user_mappings", "pg_authid", "pg_shadow"):
            out = await attempt(b, f"SELECT * FROM {view}")
            assert out.denied or not leaks(world, repr(out.rows)), (view, out.shown())


async def test_a_lock_held_by_another_user_stalls_no_sync_past_its_timeout(
    world: World, tmp_path: Path
) -> None:
    zone = ZoneInfo("UTC")
    clock = FakeClock(START)
    repo = await open_repository(tmp_path / "a.db", zone, clock.now())
    try:
        service = FocusService(repo, clock, zone, TimerRules())
        await service.start(minutes=25, task="while B holds the table")
        clock.advance(minutes=25)
        await service.complete()
        timeouts = Timeouts(connect=5, statement=1)
        target = SyncTarget(world.a["sync_url"], timeouts=timeouts)
        b = await asyncpg.connect(world.b["sync_url"])
        try:
            await b.execute("BEGIN")
            out = await attempt(b, "LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
            assert not out.refused, out.shown()  # Postgres lets any writer of a table lock it
            started = time.monotonic()
            with pytest.raises(UnavailableError) as caught:
                await sync(repo, target, clock.now())
            assert time.monotonic() - started < 2 * (timeouts.statement + 1) + 15
            assert "\n" not in str(caught.value) and "statement timeout" in str(caught.value)
        finally:
            await b.execute("ROLLBACK")
            await b.close()
        report = await asyncio.wait_for(sync(repo, target, clock.now()), 60)
        assert report.pending == 0 and report.pushed == 3
    finally:
        await repo.close()
