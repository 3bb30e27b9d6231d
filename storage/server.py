"""The shared server: schema, row-level security and users, set up as the admin role.

`focus server init` migrates the schema as the admin (who then owns every table), then
enables and forces row-level security on every table. Client roles are LOGIN roles in the
group `focus_client`: they own nothing, cannot bypass RLS, and see and write only the rows
whose `user_id` is the one `focus_users` maps their login (`current_user`) to; clients
cannot write that mapping. Policies never trust a session variable (`SET app.user_id` is
open to any client). Running init again re-applies the same grants and policies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.errors import ConfigError, NotFoundError, RefusedError, StorageError
from app.domain.models import Status
from app.domain.timer import settle
from storage import bulk
from storage.codec import SESSION_COLUMNS
from storage.filing import known_zone
from storage.migrations import HEAD
from storage.postgres import (
    SERVER_SETUP,
    Target,
    Timeouts,
    parse_url,
    raw_connect,
    session_from_pg,
    statement_error,
    with_password,
)
from storage.schema import metadata

CLIENT_GROUP = "focus_client"
# The user the login role maps to, as a subquery the planner runs once per statement (an
# InitPlan). A function call costs more per statement: measured 0.18 ms against 0.12 ms for
# a one-row read (0.07 ms with no row-level security at all).
OWN = "user_id = (SELECT f.user_id FROM public.focus_users AS f WHERE f.role_name = current_user)"
# Raises serialization_failure unless `ok`: the store's one-statement writes check with it
# that what they read still holds, and write nothing otherwise (storage/pg_unit.py).
GUARD = (
    "CREATE OR REPLACE FUNCTION public.focus_guard(ok boolean) RETURNS boolean "
    "LANGUAGE plpgsql VOLATILE AS $$ BEGIN IF ok IS NOT TRUE THEN RAISE EXCEPTION "
    "'focus: the data changed since it was read' USING ERRCODE = '40001'; END IF; "
    "RETURN true; END $$"
)

# What a client may do to each table (RLS then narrows it to the user's rows). Device-side
# tables (outbox, sync_state) are not for clients at all; the ledger is append-only.
GRANTS: dict[str, str] = {
    "sessions": "SELECT, INSERT, UPDATE",
    "ledger": "SELECT, INSERT",
    "rollups": "SELECT, INSERT, UPDATE, DELETE",
    "streak_cache": "SELECT, INSERT, UPDATE",
    "libraries": "SELECT, INSERT, UPDATE, DELETE",
    "tracks": "SELECT, INSERT, UPDATE, DELETE",
    "user_state": "SELECT, INSERT, UPDATE",
    "sync_clients": "SELECT, INSERT, UPDATE",
    "focus_users": "SELECT",
    "meta": "SELECT",
    "alembic_version": "SELECT",
    "outbox": "",
    "sync_state": "",
}
SHARED_READ = ("meta", "alembic_version")
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
INIT_LOCK = 0x466F637573  # "Focus": one `server init` at a time per database


@dataclass(frozen=True, slots=True)
class Admin:
    target: Target
    timeouts: Timeouts
    url: str


def admin_target(url: str | None, timeouts: Timeouts) -> Admin:
    if not url or not url.strip():
        raise ConfigError("no admin URL: pass --admin-url URL or set FOCUS_ADMIN_URL")
    return Admin(parse_url(url, "--admin-url"), timeouts, url.strip())


@asynccontextmanager
async def connected(admin: Admin) -> AsyncIterator[Any]:
    raw = await raw_connect(admin.target, admin.timeouts, app_name="focus-admin")
    try:
        yield raw
    except Exception as exc:
        error = statement_error(exc, admin.target, admin.timeouts)
        if error is None:
            raise
        raise error from None
    finally:
        if not raw.is_closed():
            raw.terminate()


async def _require_admin(raw: Any, admin: Admin) -> str:
    """The admin role's name; a client role (or one that cannot create roles) is refused.

    A client holds the group's privileges (USAGE). A non-superuser admin that created the
    group holds only ADMIN OPTION on it (Postgres 16 grants that to a role's creator), which
    makes it a "member" but not a client."""
    row = await raw.fetchrow(
        "SELECT current_user, r.rolsuper, r.rolcreaterole, "
        "has_database_privilege(current_database(), 'CREATE'), "
        "EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = $1 "
        "        AND pg_has_role(current_user, g.oid, 'USAGE')) "
        "FROM pg_roles r WHERE r.rolname = current_user",
        CLIENT_GROUP,
    )
    name, superuser, createrole, create, client = row
    if client and not superuser:
        raise ConfigError(
            f"role {name} is a Focus client role; `focus server` needs the admin URL "
            "(the role that owns the schema)"
        )
    if not (superuser or (createrole and create)):
        raise ConfigError(
            f"role {name} cannot set up the server: it needs CREATE on the database and "
            "CREATEROLE (or be a superuser)"
        )
    return str(name)


async def _revision(raw: Any) -> str | None:
    exists = await raw.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not exists:
        return None
    value = await raw.fetchval("SELECT version_num FROM alembic_version")
    return str(value) if value is not None else None


async def _migrate(admin: Admin) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from storage.migrate import upgrade

    async def create() -> Any:
        return await raw_connect(admin.target, admin.timeouts, app_name="focus-admin")

    engine = create_async_engine("postgresql+asyncpg://", async_creator=create)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _secure(raw: Any, admin_role: str) -> int:
    """Grants, RLS (enabled and forced) and policies on every table: one transaction."""
    tables = [t.name for t in metadata.sorted_tables] + ["alembic_version"]
    missing = set(tables) - set(GRANTS)
    if missing:  # a new table must say what clients may do with it
        raise StorageError(f"no client grants declared for {', '.join(sorted(missing))}")
    async with raw.transaction():
        exists = await raw.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", CLIENT_GROUP)
        if not exists:
            await raw.execute(
                f"CREATE ROLE {CLIENT_GROUP} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOBYPASSRLS NOREPLICATION"
            )
        await raw.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        database = _q(await raw.fetchval("SELECT current_database()"))
        # No temporary tables either: clients write only through the shared tables.
        await raw.execute(f"REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC")
        await raw.execute(f"GRANT USAGE ON SCHEMA public TO {CLIENT_GROUP}")
        await raw.execute(
            "CREATE OR REPLACE FUNCTION public.focus_user_id() RETURNS uuid "
            "LANGUAGE sql STABLE SET search_path = pg_catalog AS "
            "$$ SELECT user_id FROM public.focus_users WHERE role_name = current_user $$"
        )
        await raw.execute("REVOKE ALL ON FUNCTION public.focus_user_id() FROM PUBLIC")
        await raw.execute(f"GRANT EXECUTE ON FUNCTION public.focus_user_id() TO {CLIENT_GROUP}")
        await raw.execute(GUARD)
        await raw.execute("REVOKE ALL ON FUNCTION public.focus_guard(boolean) FROM PUBLIC")
        await raw.execute(
            f"GRANT EXECUTE ON FUNCTION public.focus_guard(boolean) TO {CLIENT_GROUP}"
        )
        await raw.execute("REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC")
        admin = _q(admin_role)
        for table in tables:
            t = f"public.{_q(table)}"
            await raw.execute(f"REVOKE ALL ON {t} FROM PUBLIC, {CLIENT_GROUP}")
            if GRANTS[table]:
                await raw.execute(f"GRANT {GRANTS[table]} ON {t} TO {CLIENT_GROUP}")
            await raw.execute(f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY")
            await raw.execute(f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY")
            for (policy,) in await raw.fetch(
                "SELECT policyname FROM pg_policies WHERE schemaname = 'public' AND tablename = $1",
                table,
            ):
                await raw.execute(f"DROP POLICY {_q(policy)} ON {t}")
            if table == "focus_users":
                own = "role_name = current_user"
                await raw.execute(
                    f"CREATE POLICY focus_self ON {t} FOR SELECT TO {CLIENT_GROUP} USING ({own})"
                )
            elif table in SHARED_READ:
                await raw.execute(
                    f"CREATE POLICY focus_read ON {t} FOR SELECT TO {CLIENT_GROUP} USING (true)"
                )
            elif GRANTS[table]:
                await raw.execute(
                    f"CREATE POLICY focus_own ON {t} FOR ALL TO {CLIENT_GROUP} "
                    f"USING ({OWN}) WITH CHECK ({OWN})"
                )
            # FORCE holds the owner to the policies too: the admin's own, explicit one.
            await raw.execute(
                f"CREATE POLICY focus_admin ON {t} FOR ALL TO {admin} "
                "USING (true) WITH CHECK (true)"
            )
        for key, value in (("server_admin", admin_role), ("server_setup", str(SERVER_SETUP))):
            await raw.execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )
    return len(tables)


async def init(admin: Admin) -> dict[str, Any]:
    """Create or upgrade the schema and (re)apply its security; harmless to run twice."""
    async with connected(admin) as raw:
        role = await _require_admin(raw, admin)
        await raw.execute("SELECT pg_advisory_lock($1)", INIT_LOCK)
        before = await _revision(raw)
        if before is not None and before != HEAD:
            from storage.migrate import known_revisions

            if before not in known_revisions():
                raise StorageError(
                    f"{admin.target.shown} has schema {before}, newer than this focus "
                    f"knows ({HEAD}); upgrade focus before running server init"
                )
        if before != HEAD:
            await _migrate(admin)
        tables = await _secure(raw, role)
        await raw.execute("SELECT pg_advisory_unlock($1)", INIT_LOCK)
    return {
        "database": admin.target.shown,
        "from": before,
        "schema": HEAD,
        "admin": role,
        "tables": tables,
    }


async def _initialized(raw: Any, admin: Admin) -> None:
    if await _revision(raw) != HEAD:
        raise StorageError(
            f"{admin.target.shown} is not set up for this focus; run `focus server init` first"
        )


def check_role_name(name: str) -> str:
    if not ROLE_NAME.fullmatch(name) or name.startswith("pg_") or name == CLIENT_GROUP:
        raise ConfigError(
            f"user name {name!r} is not allowed: use 1-63 lowercase letters, digits and _, "
            "starting with a letter or _ (not pg_ or focus_client)"
        )
    return name


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier Postgres stores: the password itself is never sent to the
    server (nor into its statement log)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


async def add_user(admin: Admin, name: str, now: datetime) -> dict[str, Any]:
    """A LOGIN role for a new user with a generated password: its user_id and sync URL."""
    check_role_name(name)
    password = secrets.token_urlsafe(24)
    user_id = uuid.uuid4()
    async with connected(admin) as raw:
        await _require_admin(raw, admin)
        await _initialized(raw, admin)
        if await raw.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
            raise RefusedError(f"a role named {name} already exists on {admin.target.host}")
        async with raw.transaction():
            create = await raw.fetchval(
                "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEDB "
                "NOCREATEROLE NOBYPASSRLS NOREPLICATION IN ROLE ' || $3, $1::text, $2::text)",
                name,
                scram_verifier(password),
                CLIENT_GROUP,
            )
            await raw.execute(create)
            database = await raw.fetchval("SELECT current_database()")
            await raw.execute(f"GRANT CONNECT ON DATABASE {_q(database)} TO {_q(name)}")
            await raw.execute(
                "INSERT INTO focus_users (user_id, role_name, created_at) VALUES ($1, $2, $3)",
                user_id,
                name,
                now,
            )
            await raw.execute(
                "INSERT INTO user_state (user_id, change_stamp) VALUES ($1, 0)", user_id
            )
    return {
        "user_id": str(user_id),
        "role": name,
        "sync_url": with_password(admin.url, name, password),
    }


# Every table holding a user's rows (dependents first), beside the login mapping: a purge
# leaves none of them behind, also in a table added later.
USER_TABLES = tuple(
    t.name for t in reversed(metadata.sorted_tables) if "user_id" in t.c and t.name != "focus_users"
)


async def remove_user(admin: Admin, name: str, purge: bool) -> dict[str, Any]:
    """Drop a user's login (and with `purge`, every row of theirs) in one transaction."""
    check_role_name(name)
    async with connected(admin) as raw:
        await _require_admin(raw, admin)
        await _initialized(raw, admin)
        async with raw.transaction():
            user_id = await raw.fetchval(
                "SELECT user_id FROM focus_users WHERE role_name = $1 FOR UPDATE", name
            )
            if user_id is None:
                raise NotFoundError(f"no Focus user named {name} on {admin.target.host}")
            removed = 0
            if purge:
                for table in USER_TABLES:
                    status = await raw.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)
                    removed += int(status.rsplit(" ", 1)[-1])
            await raw.execute("DELETE FROM focus_users WHERE user_id = $1", user_id)
            database = await raw.fetchval("SELECT current_database()")
            if await raw.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
                await raw.execute(f"REVOKE CONNECT ON DATABASE {_q(database)} FROM {_q(name)}")
                await raw.execute(f"DROP ROLE {_q(name)}")
    return {"user_id": str(uuid.UUID(bytes=user_id.bytes)), "role": name, "rows_removed": removed}


STALE = (
    f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions "
    "WHERE status IN ('active', 'paused') AND ("
    "(status = 'active' AND ends_at + planned_seconds * interval '1 second' < $1) OR "
    "(status = 'paused' AND paused_at + $2::interval < $1)) "
    "FOR UPDATE SKIP LOCKED"
)


async def expire_stale(admin: Admin, now: datetime, max_pause: timedelta) -> dict[str, Any]:
    """Expire, across all users, every session left open past its grace window: one
    transaction of four set-based statements (find, stamp, update, stats), whatever the
    number of sessions. Sessions within their grace window are left for their device to
    complete (with the reward it earned)."""
    async with connected(admin) as raw:
        await _require_admin(raw, admin)
        await _initialized(raw, admin)
        async with raw.transaction():
            await raw.set_type_codec(
                "json",
                encoder=json.dumps,
                decoder=json.loads,
                schema="pg_catalog",
            )
            rows = await raw.fetch(STALE, now, max_pause)
            changes = []
            for row in rows:
                before = session_from_pg(tuple(row))
                after = settle(before, now, max_pause)
                if after.status is Status.EXPIRED:
                    changes.append((before, after))
            if not changes:
                return {"expired": 0, "users": 0}
            users = await bulk.bump_users(raw, (a.user_id for _, a in changes))
            stamps = {u: stamp for u, (stamp, _) in users.items()}
            written = await bulk.update_status(raw, changes, stamps)
            done = [(b, a) for b, a in changes if (a.user_id, a.id) in written]
            await bulk.add_rollups(
                raw, ((a, known_zone(users[a.user_id][1]) or UTC) for _, a in done)
            )
    return {"expired": len(done), "users": len({a.user_id for _, a in done})}
