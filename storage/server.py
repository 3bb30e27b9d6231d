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
from storage import bulk
from storage.migrations import HEAD
from storage.postgres import (
    SERVER_SETUP,
    Target,
    Timeouts,
    parse_url,
    raw_connect,
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

# The server's own checks of what any client writes (a modified client included): the rules
# of `storage.sync.rules`, in triggers. A session's end instant stays alone and in order, its
# amounts in range, its reward the one due, and a finished session stays as it finished; an
# award must match its completed session. Refusals are check violations naming the rule.
# (Plain expressions, not a function: plpgsql evaluates them without a query per row.)
_DUE = (
    "CASE WHEN {f} < 60 THEN {zero} WHEN {m} = 'focus' THEN greatest({floor}, {f} / {per}) "
    "WHEN {m} = 'short_break' THEN {short} ELSE {long} END"
)


def _due(mode: str, focused_us: str) -> dict[str, str]:
    """The reward rules (`app.domain.rewards.reward_for`) as SQL over two columns."""
    f = f"({focused_us} / 1000000)"
    return {
        "xp": _DUE.format(f=f, m=mode, zero=0, floor=5, per=60, short=2, long=3),
        "coins": _DUE.format(f=f, m=mode, zero=0, floor=2, per=300, short=0, long=1),
    }


CHECKS = (
    """
CREATE OR REPLACE FUNCTION public.focus_check_session() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  problem text;
  ended timestamptz := coalesce(NEW.completed_at, NEW.abandoned_at, NEW.expired_at);
  ends int := (NEW.completed_at IS NOT NULL)::int + (NEW.abandoned_at IS NOT NULL)::int
              + (NEW.expired_at IS NOT NULL)::int;
  due_xp int := {xp};
  due_coins int := {coins};
  latest timestamptz := now() + interval '1 day';
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.status IN ('completed', 'abandoned', 'expired') AND (
       NEW.status <> OLD.status OR NEW.xp_awarded <> OLD.xp_awarded
       OR NEW.coins_awarded <> OLD.coins_awarded OR NEW.focused_us <> OLD.focused_us) THEN
    problem := 'a finished session stays as it finished';
  ELSIF NEW.status IN ('completed', 'abandoned', 'expired') AND (ends <> 1 OR
       (NEW.status = 'completed' AND NEW.completed_at IS NULL) OR
       (NEW.status = 'abandoned' AND NEW.abandoned_at IS NULL) OR
       (NEW.status = 'expired' AND NEW.expired_at IS NULL)) THEN
    problem := 'a finished session needs its end instant alone';
  ELSIF NEW.status IN ('active', 'paused') AND ends <> 0 THEN
    problem := 'an open session has an end instant';
  ELSIF NEW.status = 'paused' AND (NEW.paused_at IS NULL OR NEW.paused_remaining_us IS NULL) THEN
    problem := 'a paused session lacks its pause';
  ELSIF NEW.status = 'active' AND NEW.ends_at IS NULL THEN
    problem := 'an active session has no end time';
  ELSIF NEW.planned_seconds NOT BETWEEN 1 AND 86400
       OR NEW.extended_us NOT BETWEEN 0 AND 604800000000
       OR NEW.paused_us < 0 OR NEW.slept_us < 0 OR NEW.focused_us < 0 OR NEW.pause_count < 0
       OR NEW.version < 1 OR NEW.paused_remaining_us < 0
       OR NEW.paused_remaining_us > NEW.planned_seconds * 1000000::bigint + NEW.extended_us THEN
    problem := 'an amount out of range';
  ELSIF ended IS NOT NULL
       AND NEW.focused_us > (extract(epoch FROM ended - NEW.started_at) + 1) * 1000000 THEN
    problem := 'more focused time than the session lasted';
  ELSIF NEW.status <> 'completed' AND (NEW.xp_awarded <> 0 OR NEW.coins_awarded <> 0) THEN
    problem := 'an unfinished or lost session carries a reward';
  ELSIF NEW.status = 'completed' AND (NEW.xp_awarded, NEW.coins_awarded) <> (0, 0)
       AND (NEW.xp_awarded, NEW.coins_awarded) <> (due_xp, due_coins) THEN
    problem := 'a reward that is not the one due';
  ELSIF NEW.started_at NOT BETWEEN timestamptz '2000-01-01 00:00Z' AND latest
       OR NEW.ends_at NOT BETWEEN NEW.started_at AND latest
       OR NEW.paused_at NOT BETWEEN NEW.started_at AND latest
       OR ended NOT BETWEEN NEW.started_at AND latest THEN
    problem := 'an instant out of range';
  ELSIF NEW.updated_at < NEW.created_at THEN
    problem := 'updated before it was created';
  ELSIF length(NEW.task_title) > 200 OR (CASE WHEN json_typeof(NEW.tags) = 'array'
       THEN json_array_length(NEW.tags) > 16 OR EXISTS (
         SELECT 1 FROM json_array_elements_text(NEW.tags) AS tag WHERE length(tag) > 40)
       ELSE true END) THEN
    problem := 'task title or tags too long';
  END IF;
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'focus: session refused: %', problem USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$""".replace("{xp}", _due("NEW.mode", "NEW.focused_us")["xp"]).replace(
        "{coins}", _due("NEW.mode", "NEW.focused_us")["coins"]
    ),
    """
CREATE OR REPLACE FUNCTION public.focus_check_ledger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  s record;
  due_xp int;
  due_coins int;
BEGIN
  SELECT mode, status, focused_us, xp_awarded, coins_awarded INTO s FROM public.sessions
   WHERE user_id = NEW.user_id AND id = NEW.session_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'focus: award refused: no such session' USING ERRCODE = '23514';
  END IF;
  due_xp := {s_xp};
  due_coins := {s_coins};
  IF NEW.reason <> s.mode || '_complete'
     OR NEW.idempotency_key <> s.mode || '_complete:' || NEW.session_id::text
     OR s.status <> 'completed' OR (NEW.xp, NEW.coins) <> (due_xp, due_coins)
     OR (NEW.xp, NEW.coins) <> (s.xp_awarded, s.coins_awarded) THEN
    RAISE EXCEPTION 'focus: award refused: not the one its session earned'
      USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$""".replace("{s_xp}", _due("s.mode", "s.focused_us")["xp"]).replace(
        "{s_coins}", _due("s.mode", "s.focused_us")["coins"]
    ),
    "DROP TRIGGER IF EXISTS focus_check ON public.sessions",
    "CREATE TRIGGER focus_check BEFORE INSERT OR UPDATE ON public.sessions "
    "FOR EACH ROW EXECUTE FUNCTION public.focus_check_session()",
    "DROP TRIGGER IF EXISTS focus_check ON public.ledger",
    # After the statement: a completion's one-statement write changes the session in
    # another part of the same statement, which the check must see.
    "CREATE TRIGGER focus_check AFTER INSERT OR UPDATE ON public.ledger "
    "FOR EACH ROW EXECUTE FUNCTION public.focus_check_ledger()",
    # Libraries, tracks and deletions: the rules of `storage.sync.entities` (library_problem,
    # track_problem, the kinds a deletion names) as far as SQL can tell them: a name or
    # title within its length, without control characters or stray spaces, a known type and
    # upload state, a content hash, amounts and versions in range, instants in order.
    # After the row (as the ledger's): row-level security speaks first, so a row refused
    # for its user is refused alike whatever it holds.
    r"""
CREATE OR REPLACE FUNCTION public.focus_check_library() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  problem text;
BEGIN
  IF length(NEW.name) NOT BETWEEN 1 AND 120 OR NEW.name <> btrim(NEW.name)
     OR NEW.name ~ '\s\s' OR NEW.name ~ '[\x01-\x1f\x7f]' THEN
    problem := 'a library name that is not clean';
  ELSIF NEW.library_type NOT IN ('music', 'ambient', 'noise', 'nature', 'other') THEN
    problem := 'an unknown library type';
  ELSIF length(NEW.description) > 1000 THEN
    problem := 'a library description too long';
  ELSIF NEW.version < 1 OR NEW.tracks_count < 0 THEN
    problem := 'an amount out of range';
  ELSIF NEW.updated_at < NEW.created_at
     OR NEW.created_at NOT BETWEEN timestamptz '2000-01-01 00:00Z' AND now() + interval '1 day'
     OR NEW.updated_at > now() + interval '1 day' THEN
    problem := 'an instant out of range';
  END IF;
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'focus: library refused: %', problem USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$""",
    r"""
CREATE OR REPLACE FUNCTION public.focus_check_track() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  problem text;
BEGIN
  IF btrim(NEW.title) = '' OR length(regexp_replace(btrim(NEW.title), '\s+', ' ', 'g')) > 200
     OR NEW.title ~ '[\x01-\x08\x0e-\x1b\x7f]' THEN
    problem := 'a track title empty, too long or with control characters';
  ELSIF NEW.sha256 IS NULL OR NEW.sha256 !~ '^[0-9a-f]{64}$' THEN
    problem := 'a track without a content hash';
  ELSIF NEW.upload_state NOT IN ('pending', 'uploading', 'uploaded', 'failed') THEN
    problem := 'an unknown upload state';
  ELSIF NEW.size_bytes < 0 OR NEW.duration_seconds < 0 OR NEW.version < 1
     OR NEW.attempts < 0 THEN
    problem := 'an amount out of range';
  ELSIF NEW.added_at NOT BETWEEN timestamptz '2000-01-01 00:00Z' AND now() + interval '1 day'
     OR NEW.updated_at > now() + interval '1 day' THEN
    problem := 'an instant out of range';
  END IF;
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'focus: track refused: %', problem USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$""",
    """
CREATE OR REPLACE FUNCTION public.focus_check_deletion() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  IF NEW.entity NOT IN ('library', 'track') THEN
    RAISE EXCEPTION 'focus: deletion refused: of an unknown kind' USING ERRCODE = '23514';
  END IF;
  IF NEW.deleted_at NOT BETWEEN timestamptz '2000-01-01 00:00Z' AND now() + interval '1 day' THEN
    RAISE EXCEPTION 'focus: deletion refused: an instant out of range' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$""",
    # The change counter only goes up: a counter set back would stamp new rows below the
    # cursors of the user's other devices, which would never pull them.
    """
CREATE OR REPLACE FUNCTION public.focus_check_stamp() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  IF NEW.change_stamp < OLD.change_stamp THEN
    RAISE EXCEPTION 'focus: change counter refused: it never goes back' USING ERRCODE = '23514';
  END IF;
  RETURN NEW;
END $$""",
    "DROP TRIGGER IF EXISTS focus_check ON public.libraries",
    "CREATE TRIGGER focus_check AFTER INSERT OR UPDATE ON public.libraries "
    "FOR EACH ROW EXECUTE FUNCTION public.focus_check_library()",
    "DROP TRIGGER IF EXISTS focus_check ON public.tracks",
    "CREATE TRIGGER focus_check AFTER INSERT OR UPDATE ON public.tracks "
    "FOR EACH ROW EXECUTE FUNCTION public.focus_check_track()",
    "DROP TRIGGER IF EXISTS focus_check ON public.deletions",
    "CREATE TRIGGER focus_check AFTER INSERT OR UPDATE ON public.deletions "
    "FOR EACH ROW EXECUTE FUNCTION public.focus_check_deletion()",
    "DROP TRIGGER IF EXISTS focus_check ON public.user_state",
    "CREATE TRIGGER focus_check AFTER UPDATE ON public.user_state "
    "FOR EACH ROW EXECUTE FUNCTION public.focus_check_stamp()",
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
    "sync_rejections": "SELECT, INSERT",
    "deletions": "SELECT, INSERT, UPDATE",
    "focus_users": "SELECT",
    "meta": "SELECT",
    "alembic_version": "SELECT",
    "outbox": "",
    "sync_state": "",
    "uploads": "",
    "upload_parts": "",
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
        for statement in CHECKS:
            await raw.execute(statement)
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
            done = await bulk.expire_stale(raw, now, max_pause, UTC)
    return {"expired": len(done), "users": len({a.user_id for _, a in done})}
