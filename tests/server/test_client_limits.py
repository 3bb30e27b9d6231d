"""A client login can change no schema, no policy, no grant and no mapping; no session
setting gives it anything more than its own rows."""

from __future__ import annotations

import uuid

import pytest

from storage.server import CLIENT_GROUP
from tests.server.conftest import World
from tests.server.support import TABLES, attempt, catalog, connection, rows_of

pytestmark = pytest.mark.postgres


async def test_a_client_cannot_change_the_schema_policies_or_grants(world: World) -> None:
    async with connection(world.admin) as admin:
        before = await catalog(admin)
        database = await admin.fetchval("SELECT current_database()")
    refused = [
        "CREATE TABLE public.mine (id int)",
        "CREATE TABLE mine (id int)",
        "CREATE TEMP TABLE mine (id int)",
        "CREATE UNLOGGED TABLE mine (id int)",
        "CREATE TABLE sessions_copy AS SELECT * FROM sessions",
        "SELECT * INTO TEMP mine FROM sessions",
        "CREATE SCHEMA mine",
        "CREATE VIEW public.everything AS SELECT * FROM sessions",
        "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE OR REPLACE FUNCTION public.focus_user_id() RETURNS uuid LANGUAGE sql "
        "AS $$ SELECT user_id FROM public.focus_users LIMIT 1 $$",
        "ALTER FUNCTION public.focus_user_id() SECURITY DEFINER",
        "ALTER TABLE sessions DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE focus_users DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE sessions OWNER TO CURRENT_USER",
        "ALTER TABLE sessions ADD COLUMN x int",
        "ALTER TABLE sessions DROP CONSTRAINT pk_sessions",
        "DROP POLICY focus_own ON sessions",
        "ALTER POLICY focus_own ON sessions USING (true)",
        "CREATE POLICY mine ON sessions FOR SELECT USING (true)",
        "CREATE INDEX ON sessions (task_title)",
        "CREATE TRIGGER t BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION "
        "suppress_redundant_updates_trigger()",
        "CREATE RULE r AS ON INSERT TO sessions DO INSTEAD NOTHING",
        "COMMENT ON TABLE sessions IS 'mine'",
        "DROP TABLE sessions",
        "TRUNCATE sessions",
        "CREATE ROLE mine",
        f"GRANT {CLIENT_GROUP} TO {world.a['role']}",
        f"GRANT {world.a['role']} TO CURRENT_USER",
        "ALTER ROLE CURRENT_USER BYPASSRLS",
        "ALTER ROLE CURRENT_USER SUPERUSER",
        "ALTER ROLE CURRENT_USER CREATEROLE",
        f"ALTER ROLE CURRENT_USER RENAME TO {world.a['role']}x",
        f"SET ROLE {world.a['role']}",
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
    ]
    # Refused before any privilege is looked at: the running login cannot be renamed.
    other_refusals = {f"ALTER ROLE CURRENT_USER RENAME TO {world.a['role']}x"}
    # The mapping from login to user: no client may change it in any way.
    mapping = [
        "INSERT INTO focus_users (user_id, role_name, created_at) "
        f"VALUES ('{world.a_id}', CURRENT_USER || 'x', now())",
        f"INSERT INTO focus_users (user_id, role_name, created_at) "
        f"VALUES ('{uuid.uuid4()}', '{world.a['role']}', now())",
        f"UPDATE focus_users SET user_id = '{world.a_id}' WHERE role_name = CURRENT_USER",
        "UPDATE focus_users SET role_name = role_name",
        "DELETE FROM focus_users",
        "TRUNCATE focus_users",
    ]
    problems = []
    async with connection(world.b["sync_url"]) as b:
        for sql in refused + mapping:
            out = await attempt(b, sql)
            if not out.denied and not (sql in other_refusals and out.refused):
                problems.append(f"{sql!r}: {out.shown()}")
        # Row security off does not turn the policies off: the query fails instead.
        await b.execute("SET row_security = off")
        out = await attempt(b, "SELECT * FROM sessions")
        assert out.denied and "row-level security" in out.message, out.shown()
        await b.execute("RESET row_security")
        # A GRANT of a privilege held without the grant option grants nothing (a warning).
        for sql in (
            f"GRANT ALL ON sessions TO PUBLIC, {world.a['role']}",
            f"GRANT SELECT ON focus_users TO {world.a['role']} WITH GRANT OPTION",
            f'GRANT CREATE ON DATABASE "{database}" TO CURRENT_USER',
            "GRANT CREATE ON SCHEMA public TO CURRENT_USER",
            "GRANT EXECUTE ON FUNCTION public.focus_user_id() TO PUBLIC",
            "GRANT USAGE ON SCHEMA public TO PUBLIC",
        ):
            out = await attempt(b, sql)
            if out.refused and not out.denied:
                problems.append(f"{sql!r}: {out.shown()}")
        assert await b.fetchval("SELECT current_user") == world.b["role"]
    assert problems == [], "\n".join(problems)
    async with connection(world.admin) as admin:
        assert await catalog(admin) == before
    assert await world.a_rows() == world.before


async def test_session_settings_and_the_group_role_give_a_client_nothing(world: World) -> None:
    async with connection(world.b["sync_url"]) as b, connection(world.admin) as admin:
        b_rows = await rows_of(admin, world.b_id)
        for setting in (
            f"SET app.user_id = '{world.a_id}'",
            f"SELECT set_config('app.user_id', '{world.a_id}', false)",
            f"SET request.jwt.claim.sub = '{world.a_id}'",
            f"SET focus.user_id = '{world.a_id}'",
            "SET search_path = pg_temp, public",
        ):
            await b.execute(setting)
        assert await b.fetchval("SELECT public.focus_user_id()") == world.b_id
        for table in TABLES:
            if not await b.fetchval("SELECT has_table_privilege($1, 'SELECT')", table):
                continue
            out = await attempt(b, f'SELECT count(*) FROM "{table}" WHERE user_id = $1', world.a_id)
            if table in ("meta", "alembic_version"):
                continue
            assert out.rows == ((0,),), (table, out.shown())
        out = await attempt(
            b,
            "INSERT INTO rollups (user_id, dim, mode, key) VALUES ($1, 'all', 'focus', 'x')",
            world.a_id,
        )
        assert out.denied, out.shown()
        await b.execute("RESET ALL")

        # The group role: a member may take it on, and then it is nobody (sees no user's row).
        await b.execute(f"SET ROLE {CLIENT_GROUP}")
        assert await b.fetchval("SELECT public.focus_user_id()") is None
        for table in ("sessions", "ledger", "rollups", "libraries", "user_state", "focus_users"):
            assert await b.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        out = await attempt(
            b,
            "INSERT INTO libraries (user_id, id, name, created_at, updated_at) "
            "VALUES ($1, $2, 'x', now(), now())",
            world.a_id,
            uuid.uuid4(),
        )
        assert out.denied, out.shown()
        await b.execute("RESET ROLE")
        assert await rows_of(admin, world.b_id) == b_rows
    assert await world.a_rows() == world.before
