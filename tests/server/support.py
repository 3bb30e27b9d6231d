"""What the server tests share: raw connections, a user's real data, catalog and row snapshots,
and statements whose outcome (rows, or the refusal) is recorded instead of raised."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.clock import FakeClock
from app.services import FocusService, TimerRules
from storage.postgres import open_pg_repository
from storage.schema import metadata

TABLES = sorted([*metadata.tables, "alembic_version"])
"""Every table `focus server init` secures."""


@asynccontextmanager
async def connection(url: str) -> AsyncIterator[Any]:
    """A plain asyncpg connection (no codecs: JSON as text), closed at the end."""
    raw = await asyncpg.connect(url)
    try:
        yield raw
    finally:
        await raw.close()


@dataclass(frozen=True)
class Outcome:
    """A statement's result: its rows and status, or the error it was refused with."""

    rows: tuple[tuple[Any, ...], ...] = ()
    status: str = ""
    sqlstate: str | None = None
    message: str = ""
    detail: str = ""

    @property
    def refused(self) -> bool:
        return self.sqlstate is not None

    @property
    def denied(self) -> bool:
        """Refused for lack of privilege (a grant, or a row-level security policy)."""
        return self.sqlstate == "42501"

    def shown(self) -> str:
        if self.refused:
            return f"refused {self.sqlstate}: {self.message}"
        return f"{self.status} {len(self.rows)} rows"


async def attempt(raw: Any, sql: str, *args: Any) -> Outcome:
    """Run one statement (autocommit) and record what happened."""
    try:
        statement = await raw.prepare(sql)
        rows = await statement.fetch(*args)
        status = statement.get_statusmsg() or ""
    except asyncpg.PostgresError as exc:
        return Outcome(
            sqlstate=exc.sqlstate,
            message=str(exc),
            detail=str(getattr(exc, "detail", "") or ""),
        )
    return Outcome(tuple(tuple(r) for r in rows), status)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def primary_keys(raw: Any) -> dict[str, tuple[str, ...]]:
    """Each public table's primary key columns, from the catalog."""
    rows = await raw.fetch(
        "SELECT c.relname, array_agg(a.attname ORDER BY k.ord) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum "
        "WHERE i.indisprimary GROUP BY c.relname"
    )
    return {r[0]: tuple(r[1]) for r in rows}


async def unique_columns(raw: Any) -> dict[str, set[str]]:
    """Each public table's columns that are part of a primary key or a unique index."""
    rows = await raw.fetch(
        "SELECT c.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indisunique"
    )
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    return found


def fresh_value(value: Any) -> Any:
    """A new value of the same type as `value` (a key no row holds)."""
    if isinstance(value, uuid.UUID):
        return uuid.uuid4()
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return secrets.randbelow(10**9) + 10**6
    if isinstance(value, str):
        return "x" + secrets.token_hex(4)[:7]
    raise TypeError(f"no fresh value for {value!r}")


def renewed(row: dict[str, Any], unique: set[str]) -> dict[str, Any]:
    """`row` with a fresh value in every key column but `user_id`."""
    return {c: fresh_value(v) if c in unique and c != "user_id" else v for c, v in row.items()}


def insert_sql(table: str, row: dict[str, Any], conflict: str = "") -> tuple[str, list[Any]]:
    """`INSERT INTO table (...) VALUES ($1, ...) <conflict>` and its arguments."""
    names = ", ".join(q(c) for c in row)
    values = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    return f"INSERT INTO {q(table)} ({names}) VALUES ({values}) {conflict}".strip(), list(
        row.values()
    )


def key_where(key: tuple[str, ...], row: dict[str, Any], first: int = 1) -> tuple[str, list[Any]]:
    """`k1 = $n AND ...` selecting `row` by its key, and the arguments."""
    where = " AND ".join(f"{q(c)} = ${i}" for i, c in enumerate(key, first))
    return where, [row[c] for c in key]


async def columns(raw: Any) -> dict[str, tuple[str, ...]]:
    rows = await raw.fetch(
        "SELECT table_name, array_agg(column_name::text ORDER BY ordinal_position) "
        "FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name"
    )
    return {r[0]: tuple(r[1]) for r in rows}


async def rows_of(raw: Any, user_id: uuid.UUID | None) -> dict[str, list[dict[str, Any]]]:
    """Every row of `user_id` in every table (all rows of the tables without a user_id),
    as the admin sees them: the snapshot that proves another user changed nothing."""
    keys = await primary_keys(raw)
    cols = await columns(raw)
    found: dict[str, list[dict[str, Any]]] = {}
    for table in TABLES:
        if table not in keys:  # not created (yet)
            continue
        order = ", ".join(q(c) for c in keys[table])
        if "user_id" in cols[table] and user_id is not None:
            rows = await raw.fetch(
                f"SELECT * FROM {q(table)} WHERE user_id = $1 ORDER BY {order}", user_id
            )
        else:
            rows = await raw.fetch(f"SELECT * FROM {q(table)} ORDER BY {order}")
        found[table] = [dict(r) for r in rows]
    return found


async def catalog(raw: Any) -> dict[str, Any]:
    """The security-relevant state of the database: policies, RLS flags, owners, grants,
    the mapping function, the schema revision."""
    policies = await raw.fetch(
        "SELECT tablename, policyname, permissive, roles::text[], cmd, qual, with_check "
        "FROM pg_policies WHERE schemaname = 'public' ORDER BY tablename, policyname"
    )
    tables = await raw.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "pg_get_userbyid(c.relowner), c.relacl::text[] "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
        "ORDER BY c.relname"
    )
    functions = await raw.fetch(
        "SELECT p.proname, pg_get_functiondef(p.oid), p.proacl::text[] FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' "
        "ORDER BY p.proname"
    )
    database = await raw.fetchrow(
        "SELECT datacl::text[] FROM pg_database WHERE datname = current_database()"
    )
    schema = await raw.fetchrow("SELECT nspacl::text[] FROM pg_namespace WHERE nspname = 'public'")
    revision = await raw.fetch(
        "SELECT version_num FROM alembic_version"
        if await raw.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
        else "SELECT NULL"
    )
    return {
        "policies": [tuple(r) for r in policies],
        "tables": [tuple(r) for r in tables],
        "functions": [tuple(r) for r in functions],
        "database_acl": sorted(database[0] or []),
        "schema_acl": sorted(schema[0] or []),
        "revision": [tuple(r) for r in revision],
    }


@dataclass
class UserData:
    """What a user wrote: through the repository (sessions, ledger, rollups, streak), through
    their own login (a library, a track, a sync client) and, for the tables only a device
    or the admin writes (outbox, sync_state), by the admin."""

    user_id: uuid.UUID
    sessions: list[uuid.UUID] = field(default_factory=list)
    ledger: list[uuid.UUID] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)
    library: uuid.UUID = field(default_factory=uuid.uuid4)
    track: uuid.UUID = field(default_factory=uuid.uuid4)
    client: uuid.UUID = field(default_factory=uuid.uuid4)


async def write_user_data(
    admin_url: str, user: dict[str, Any], start: datetime, library: str = "Rain"
) -> UserData:
    """Real data of `user` in every table: a completed, an abandoned and a paused session
    through the repository and the service, the rest through the user's own login."""
    clock = FakeClock(start)
    repo = await open_pg_repository(user["sync_url"], UTC)
    try:
        service = FocusService(repo, clock, UTC, TimerRules())
        first = await service.start(task="write the report", tags=["deep", "q3"])
        clock.advance(minutes=25)
        await service.complete()
        clock.advance(minutes=5)
        second = await service.start(task="email", minutes=10)
        clock.advance(minutes=3)
        await service.abandon("meeting")
        third = await service.start(task="read", tags=["paper"])
        clock.advance(minutes=4)
        await service.pause()
    finally:
        await repo.close()
    data = UserData(uuid.UUID(user["user_id"]), [first.id, second.id, third.id])
    now = clock.now()
    async with connection(user["sync_url"]) as raw:
        await raw.execute(
            "INSERT INTO libraries (user_id, id, name, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $4)",
            data.user_id,
            data.library,
            library,
            now,
        )
        await raw.execute(
            "INSERT INTO tracks (user_id, id, library_id, title, sha256, added_at) "
            "VALUES ($1, $2, $3, 'storm', $4, $5)",
            data.user_id,
            data.track,
            data.library,
            "ab" * 32,
            now,
        )
        await raw.execute(
            "INSERT INTO sync_clients (user_id, client_id, last_mutation_id, updated_at) "
            "VALUES ($1, $2, 7, $3)",
            data.user_id,
            data.client,
            now,
        )
        await raw.execute(
            "INSERT INTO sync_rejections (user_id, client_id, mutation_id, entity, entity_id, "
            "reason, created_at) VALUES ($1, $2, 3, 'session', $3, 'bad', $4)",
            data.user_id,
            data.client,
            data.sessions[0],
            now,
        )
        await raw.execute(
            "INSERT INTO deletions (user_id, entity, entity_id, deleted_at, change_stamp) "
            "VALUES ($1, 'track', $2, $3, 1)",
            data.user_id,
            uuid.uuid4(),
            now,
        )
        for row in await raw.fetch("SELECT id, idempotency_key FROM ledger"):
            data.ledger.append(uuid.UUID(bytes=row[0].bytes))
            data.idempotency_keys.append(row[1])
    async with connection(admin_url) as raw:
        await raw.execute(
            "INSERT INTO uploads (user_id, sha256, object_key, upload_id, part_size, "
            "size_bytes, created_at) VALUES ($1, $2, 'k', 'u', 5242880, 6000000, $3)",
            data.user_id,
            "cd" * 32,
            now,
        )
        await raw.execute(
            "INSERT INTO upload_parts (user_id, sha256, part_number, etag, size_bytes) "
            "VALUES ($1, $2, 1, 'e', 5242880)",
            data.user_id,
            "cd" * 32,
        )
        await raw.execute(
            "INSERT INTO outbox (user_id, client_id, entity, entity_id, version, payload, "
            "created_at) VALUES ($1, $2, 'session', $3, 1, '{}', $4)",
            data.user_id,
            data.client,
            data.sessions[0],
            now,
        )
        await raw.execute(
            "INSERT INTO sync_state (user_id, client_id, last_pushed_mutation_id) "
            "VALUES ($1, $2, 1)",
            data.user_id,
            data.client,
        )
    return data
