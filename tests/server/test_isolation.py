"""Row-level security between users: B's login, given every id of A's rows, reads nothing of A,
writes nothing as A, changes and deletes nothing of A's, and no error tells B that a row of
A's exists. Every table, every kind of statement, over B's raw connection."""

from __future__ import annotations

import contextlib
import io
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from storage.postgres import open_pg_repository
from tests.server.conftest import World
from tests.server.support import (
    TABLES,
    Outcome,
    attempt,
    columns,
    connection,
    insert_sql,
    key_where,
    primary_keys,
    q,
    renewed,
    unique_columns,
)

pytestmark = pytest.mark.postgres


def belongs_to_a(world: World, rows: tuple[tuple[Any, ...], ...]) -> bool:
    """Whether any row holds A's user_id or A's login (as a value, or inside a text)."""
    marks = (str(world.a_id), world.a["role"])
    for row in rows:
        for value in row:
            if value == world.a_id:
                return True
            if isinstance(value, str) and any(m in value for m in marks):
                return True
    return False


def a_key_queries(table: str, key: tuple[str, ...], world: World) -> list[tuple[str, list[Any]]]:
    """SELECTs of A's rows: each by its key (B knows every id)."""
    found = []
    for row in world.before[table]:
        where, args = key_where(key, row)
        found.append((f"SELECT * FROM {q(table)} WHERE {where}", args))
        found.append((f"SELECT * FROM {q(table)} WHERE {where} FOR UPDATE NOWAIT", args))
    return found


async def test_b_reads_nothing_of_a_in_any_table(world: World) -> None:
    problems: list[str] = []
    async with connection(world.admin) as admin, connection(world.b["sync_url"]) as b:
        keys = await primary_keys(admin)
        cols = await columns(admin)
        assert await b.fetchval("SELECT public.focus_user_id()") == world.b_id
        for table in TABLES:
            t = q(table)
            queries: list[tuple[str, list[Any]]] = [(f"SELECT * FROM {t}", [])]
            counts = []
            if "user_id" in cols[table]:
                queries += [
                    (f"SELECT * FROM {t} WHERE user_id = $1", [world.a_id]),
                    (f"SELECT * FROM {t} WHERE user_id::text = $1", [str(world.a_id)]),
                    # A filter that fails on A's rows: it runs after the policy, so no error
                    # (and no rows) comes back, where the admin gets the division by zero.
                    (
                        f"SELECT * FROM {t} WHERE 1 / (CASE WHEN user_id = $1 THEN 0 "
                        "ELSE 1 END) = 1",
                        [world.a_id],
                    ),
                ]
                counts += [
                    (f"SELECT count(*) FROM {t} WHERE user_id = $1", [world.a_id]),
                    (f"SELECT count(*) FROM {t} WHERE user_id <> $1", [world.b_id]),
                ]
            queries += a_key_queries(table, keys[table], world)
            for sql, args in queries:
                out = await attempt(b, sql, *args)
                if belongs_to_a(world, out.rows):
                    problems.append(f"{table}: B read A's rows with {sql!r}")
                elif out.refused and not out.denied:
                    problems.append(f"{table}: {sql!r} failed for B: {out.shown()}")
                if "user_id" not in cols[table] or sql == f"SELECT * FROM {t}":
                    continue
                control = await attempt(admin, sql, *args)
                if not (belongs_to_a(world, control.rows) or control.sqlstate == "22012"):
                    problems.append(f"{table}: the admin did not see A's rows with {sql!r}")
            for sql, args in counts:
                out = await attempt(b, sql, *args)
                if not (out.denied or out.rows == ((0,),)):
                    problems.append(f"{table}: B counted A's rows: {sql!r} -> {out.shown()}")
            copied = io.BytesIO()
            with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
                await b.copy_from_table(table, output=copied)
            if str(world.a_id).encode() in copied.getvalue():
                problems.append(f"{table}: COPY TO gave B A's rows")
        own = await b.fetch("SELECT user_id, role_name FROM focus_users")
        assert [(r[0], r[1]) for r in own] == [(world.b_id, world.b["role"])]
        # Planner statistics hold sample values of every column: hidden from B.
        await admin.execute("ANALYZE")
        stats = "SELECT count(*) FROM pg_stats WHERE schemaname = 'public'"
        assert await admin.fetchval(stats) > 0
        assert await b.fetchval(stats) == 0
        assert await b.fetchval("SELECT count(*) FROM pg_stats_ext") == 0
    assert problems == [], "\n".join(problems)
    assert await world.a_rows() == world.before


async def test_b_cannot_insert_or_upsert_as_a_and_learns_nothing_from_the_refusal(
    world: World,
) -> None:
    """A's own row, A's user with a new key, an unknown user: the same refusal, whether or
    not the key is taken (an existence check would have to answer differently)."""
    problems: list[str] = []
    async with connection(world.admin) as admin, connection(world.b["sync_url"]) as b:
        keys = await primary_keys(admin)
        cols = await columns(admin)
        unique = await unique_columns(admin)
        for table in TABLES:
            key = ", ".join(q(c) for c in keys[table])
            last = q(cols[table][-1])
            kinds = {
                "insert": "",
                "insert on conflict do nothing": "ON CONFLICT DO NOTHING",
                "upsert": f"ON CONFLICT ({key}) DO UPDATE SET {last} = excluded.{last}",
                "upsert returning": (
                    f"ON CONFLICT ({key}) DO UPDATE SET {last} = excluded.{last} RETURNING *"
                ),
            }
            for row in world.before[table]:
                variants = {"A's row": row, "A's user, a new key": renewed(row, unique[table])}
                if "user_id" in row:
                    variants["an unknown user"] = {**row, "user_id": uuid.uuid4()}
                for kind, conflict in kinds.items():
                    outcomes: dict[str, Outcome] = {}
                    for name, values in variants.items():
                        sql, args = insert_sql(table, values, conflict)
                        outcomes[name] = await attempt(b, sql, *args)
                    shown = {name: o.shown() for name, o in outcomes.items()}
                    if not all(o.denied for o in outcomes.values()):
                        problems.append(f"{table} {kind}: not refused: {shown}")
                    elif len({(o.sqlstate, o.message, o.detail) for o in outcomes.values()}) > 1:
                        problems.append(f"{table} {kind}: refusals differ: {shown}")
    assert problems == [], "\n".join(problems)
    assert await world.a_rows() == world.before


async def test_b_updates_and_deletes_nothing_of_a(world: World) -> None:
    problems: list[str] = []

    def untouched(sql: str, out: Outcome) -> None:
        if out.refused and not out.denied:
            problems.append(f"{sql!r} failed for B: {out.shown()}")
        elif belongs_to_a(world, out.rows) or (not out.refused and not out.status.endswith(" 0")):
            problems.append(f"{sql!r} changed A's rows: {out.shown()}")

    async with connection(world.admin) as admin, connection(world.b["sync_url"]) as b:
        keys = await primary_keys(admin)
        cols = await columns(admin)
        for table in TABLES:
            t = q(table)
            first = q(keys[table][0])
            per_user = "user_id" in cols[table]
            for row in world.before[table]:
                where, args = key_where(keys[table], row)
                for sql in (
                    f"UPDATE {t} SET {first} = {first} WHERE {where} RETURNING *",
                    f"DELETE FROM {t} WHERE {where} RETURNING *",
                ):
                    untouched(sql, await attempt(b, sql, *args))
                if per_user:  # pulling A's row over to B
                    where, args = key_where(keys[table], row, 2)
                    sql = f"UPDATE {t} SET user_id = $1 WHERE {where} RETURNING *"
                    untouched(sql, await attempt(b, sql, world.b_id, *args))
            if per_user:
                for sql in (
                    f"UPDATE {t} SET {first} = {first} WHERE user_id = $1 RETURNING *",
                    f"DELETE FROM {t} WHERE user_id = $1 RETURNING *",
                ):
                    untouched(sql, await attempt(b, sql, world.a_id))
                # Moving B's own rows over to A: WITH CHECK refuses the new rows.
                sql = f"UPDATE {t} SET user_id = $1 WHERE user_id = $2 RETURNING *"
                out = await attempt(b, sql, world.a_id, world.b_id)
                if not out.denied:
                    problems.append(f"{sql!r} was not refused: {out.shown()}")
            # Without a filter B reaches only its own rows.
            sql = f"UPDATE {t} SET {first} = {first} RETURNING *"
            out = await attempt(b, sql)
            if belongs_to_a(world, out.rows) or (out.refused and not out.denied):
                problems.append(f"{sql!r}: {out.shown()}")
            out = await attempt(b, f"TRUNCATE {t}")
            if not out.denied:  # TRUNCATE ignores row-level security: never granted
                problems.append(f"TRUNCATE {table}: {out.shown()}")
        for table in TABLES:  # last: B deletes everything it can (its own rows)
            sql = f"DELETE FROM {q(table)} RETURNING *"
            out = await attempt(b, sql)
            if belongs_to_a(world, out.rows) or (out.refused and not out.denied):
                problems.append(f"{sql!r}: {out.shown()}")
    assert problems == [], "\n".join(problems)
    assert await world.a_rows() == world.before


def same_failure(one: Outcome, other: Outcome, values: tuple[Any, Any]) -> bool:
    """Both succeeded, or both failed alike (the detail naming the value each one sent)."""
    if one.refused != other.refused:
        return False
    if not one.refused:
        return one.status == other.status
    first, second = (str(v) for v in values)
    return (one.sqlstate, one.message, one.detail.replace(first, "<v>")) == (
        other.sqlstate,
        other.message,
        other.detail.replace(second, "<v>"),
    )


async def test_a_key_in_b_own_rows_neither_collides_nor_reveals_anything(world: World) -> None:
    """Keys and foreign keys include user_id: B's row may reuse every id of A's; a reference
    to A's row fails exactly as a reference to a made-up id does."""
    problems: list[str] = []
    async with connection(world.admin) as admin, connection(world.b["sync_url"]) as b:
        keys = await primary_keys(admin)
        unique = await unique_columns(admin)
        now = world.before["sessions"][0]["created_at"]

        # References: a track in a library of A's, a ledger entry for a session of A's.
        track = {"user_id": world.b_id, "title": "x", "added_at": now}
        entry = {"user_id": world.b_id, "xp": 1, "coins": 1, "reason": "x", "created_at": now}
        refs = [
            ("tracks", "library_id", world.data.library, track),
            ("ledger", "session_id", world.data.sessions[0], entry),
        ]
        for table, column, a_value, base in refs:
            made_up = uuid.uuid4()
            found = []
            for value in (a_value, made_up):
                row = {**base, "id": uuid.uuid4(), column: value}
                if table == "ledger":
                    row["idempotency_key"] = uuid.uuid4().hex
                sql, args = insert_sql(table, row)
                found.append(await attempt(b, sql, *args))
            if not same_failure(found[0], found[1], (a_value, made_up)):
                problems.append(
                    f"{table}.{column}: A's id {found[0].shown()} {found[0].detail!r}, a "
                    f"made-up id {found[1].shown()} {found[1].detail!r}"
                )

        # B's copy of each of A's rows, with A's ids, then with fresh ones: the same result.
        for table in TABLES:
            if (
                keys[table] == ("user_id",)
                or "user_id" not in keys[table]
                or not await b.fetchval("SELECT has_table_privilege($1, 'INSERT')", table)
            ):
                continue
            own = await admin.fetch(
                f"SELECT {', '.join(q(c) for c in keys[table])} FROM {q(table)} WHERE user_id = $1",
                world.b_id,
            )
            b_keys = {tuple(r) for r in own}
            for row in world.before[table]:
                mine = {**row, "user_id": world.b_id}
                if tuple(mine[c] for c in keys[table]) in b_keys:
                    continue  # B's own row has this key (the stats row of every user, say)
                other = renewed(mine, unique[table])
                if table == "deletions":  # a key part the server checks: a kind it knows
                    other["entity"] = mine["entity"]
                found = []
                for values in (mine, other):
                    sql, args = insert_sql(table, values)
                    found.append(await attempt(b, sql, *args))
                checked = [f.refused and f.sqlstate == "23514" for f in found]
                if all(checked) and found[0].message == found[1].message:
                    # The server's check of an award (its session one of B's, completed,
                    # paying what it earned) refuses both copies alike: nothing collided.
                    continue
                if found[0].refused or found[1].refused:
                    problems.append(
                        f"{table}: B's row with A's key {found[0].shown()}, with a new key "
                        f"{found[1].shown()}"
                    )
    assert problems == [], "\n".join(problems)
    assert await world.a_rows() == world.before

    # Each user's repository still sees exactly its own history.
    for user, ids in ((world.a, world.data.sessions), (world.b, world.b_data.sessions)):
        repo = await open_pg_repository(user["sync_url"], ZoneInfo("UTC"))
        try:
            seen = [s.id async for s in repo.iter_sessions()]
            assert {s.user_id async for s in repo.iter_sessions()} == {uuid.UUID(user["user_id"])}
        finally:
            await repo.close()
        assert set(ids) <= set(seen)
        if user is world.a:
            assert sorted(seen) == sorted(ids)
