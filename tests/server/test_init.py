"""`focus server init`: harmless to repeat (also at the same time), refuses a schema newer
than it knows without touching anything, and runs only as an admin role."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from app.domain.errors import ConfigError, StorageError
from storage.migrations import HEAD
from storage.postgres import Timeouts, with_password
from storage.server import add_user, admin_target, expire_stale, init, remove_user
from tests.conftest import START, UserFactory
from tests.e2e.conftest import assert_one_line_error, make_focus
from tests.pg import unique_name
from tests.server.support import TABLES, catalog, connection, rows_of, write_user_data

pytestmark = pytest.mark.postgres

NEWER = "ffffffff0042"


async def state(admin_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The security catalog and every row of the database."""
    async with connection(admin_url) as raw:
        return await catalog(raw), await rows_of(raw, None)


async def test_init_twice_is_harmless(pg_admin: str, pg_user: UserFactory) -> None:
    user = await pg_user()
    await write_user_data(pg_admin, user, START)
    before_catalog, before_rows = await state(pg_admin)
    report = await init(admin_target(pg_admin, Timeouts()))
    assert report["from"] == report["schema"] == HEAD
    assert report["tables"] == len(TABLES)
    after_catalog, after_rows = await state(pg_admin)
    assert after_catalog == before_catalog  # same policies (none twice), grants, owners
    assert after_rows == before_rows
    per_table: dict[str, list[str]] = {}
    for table, name, *_ in after_catalog["policies"]:
        per_table.setdefault(table, []).append(name)
    assert sorted(per_table) == TABLES
    assert {t: n for t, n in per_table.items() if len(n) != len(set(n)) or len(n) > 2} == {}
    # The user's login works as before.
    async with connection(user["sync_url"]) as raw:
        assert await raw.fetchval("SELECT count(*) FROM sessions") == 3


async def test_concurrent_inits_of_a_new_database_agree(pg_url: str) -> None:
    admin = admin_target(pg_url, Timeouts())
    reports = await asyncio.gather(init(admin), init(admin), init(admin))
    assert sorted(str(r["from"]) for r in reports) == sorted(["None", HEAD, HEAD])
    first = await state(pg_url)
    await init(admin)
    assert await state(pg_url) == first


async def test_init_refuses_a_newer_schema_and_changes_nothing(
    pg_admin: str, pg_user: UserFactory, tmp_path: Any
) -> None:
    await write_user_data(pg_admin, await pg_user(), START)
    async with connection(pg_admin) as raw:
        await raw.execute("UPDATE alembic_version SET version_num = $1", NEWER)
        # A change init would undo if it went ahead: a policy of its own dropped.
        await raw.execute("DROP POLICY focus_own ON sessions")
    before = await state(pg_admin)
    with pytest.raises(StorageError) as caught:
        await init(admin_target(pg_admin, Timeouts()))
    message = str(caught.value)
    assert "\n" not in message and NEWER in message and HEAD in message
    assert await state(pg_admin) == before
    proc = make_focus(tmp_path)("server", "init", "--admin-url", pg_admin, db=False)
    assert NEWER in assert_one_line_error(proc, 2)
    assert await state(pg_admin) == before


async def test_init_refuses_a_foreign_newer_schema_in_an_empty_database(pg_url: str) -> None:
    async with connection(pg_url) as raw:
        await raw.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        await raw.execute("INSERT INTO alembic_version VALUES ($1)", NEWER)
    before = await state(pg_url)
    with pytest.raises(StorageError, match=NEWER):
        await init(admin_target(pg_url, Timeouts()))
    assert await state(pg_url) == before
    async with connection(pg_url) as raw:
        tables = await raw.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert [r[0] for r in tables] == ["alembic_version"]


async def test_a_client_url_is_refused_by_every_server_command(
    pg_admin: str, pg_user: UserFactory, tmp_path: Any
) -> None:
    user = await pg_user()
    before = await state(pg_admin)
    client = admin_target(user["sync_url"], Timeouts())
    calls = [
        init(client),
        add_user(client, unique_name(), START),
        remove_user(client, user["role"], purge=True),
        expire_stale(client, START, timedelta(minutes=1)),
    ]
    for call in calls:
        with pytest.raises(ConfigError) as caught:
            await call
        message = str(caught.value)
        assert "\n" not in message
        assert f"role {user['role']} is a Focus client role" in message
    assert await state(pg_admin) == before
    password = user["sync_url"].split(":")[2].split("@")[0]
    proc = make_focus(tmp_path)("server", "init", "--admin-url", user["sync_url"], db=False)
    line = assert_one_line_error(proc, 2)
    assert user["role"] in line and password not in line
    assert await state(pg_admin) == before


@pytest.mark.parametrize(
    ("powers", "grant_create"),
    [("", False), ("CREATEROLE", False), ("", True), ("CREATEDB BYPASSRLS", False)],
    ids=["nothing", "createrole only", "create only", "createdb bypassrls"],
)
async def test_a_role_without_createrole_and_create_is_refused(
    pg_admin: str, powers: str, grant_create: bool
) -> None:
    name = unique_name("weak")
    password = uuid.uuid4().hex
    async with connection(pg_admin) as raw:
        await raw.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' {powers}")
        if grant_create:
            database = await raw.fetchval("SELECT current_database()")
            await raw.execute(f'GRANT CREATE ON DATABASE "{database}" TO {name}')
    try:
        before = await state(pg_admin)
        url = with_password(pg_admin, name, password)
        with pytest.raises(ConfigError) as caught:
            await init(admin_target(url, Timeouts()))
        message = str(caught.value)
        assert "\n" not in message
        assert f"role {name} cannot set up the server" in message
        assert "CREATEROLE" in message and password not in message
        assert await state(pg_admin) == before
    finally:
        async with connection(pg_admin) as raw:
            await raw.execute(f"DROP OWNED BY {name}")
            await raw.execute(f"DROP ROLE {name}")


async def test_an_admin_that_is_no_superuser_sets_up_the_server(
    pg_server: str, pg_admin: str
) -> None:
    """A managed Postgres gives no superuser: an admin with CREATEROLE that owns the
    database runs init (twice), add-user and remove-user as well."""
    from tests.pg import with_database

    name = unique_name("adm")
    password = uuid.uuid4().hex
    database = f"focus_test_{uuid.uuid4().hex[:12]}"
    async with connection(pg_admin) as raw:  # `focus_client` exists: another admin made it
        await raw.execute(f"CREATE ROLE {name} LOGIN CREATEROLE PASSWORD '{password}'")
        await raw.execute(f'CREATE DATABASE "{database}" OWNER {name}')
        if await raw.fetchval("SHOW server_version_num") >= "160000":
            # What Postgres 16 gives the creator of a role: ADMIN, not its privileges.
            await raw.execute(
                f"GRANT focus_client TO {name} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE"
            )
    superuser_url = with_database(pg_server, database)
    admin = admin_target(with_password(superuser_url, name, password), Timeouts())
    try:
        report = await init(admin)
        assert (report["from"], report["admin"]) == (None, name)
        first = await state(superuser_url)
        assert (await init(admin))["from"] == HEAD
        assert await state(superuser_url) == first
        tables = [t for t in first[0]["tables"] if t[0] in TABLES]
        assert len(tables) == len(TABLES)
        assert {owner for _, _, _, owner, _ in tables} == {name}
        assert {(rls, force) for _, rls, force, _, _ in tables} == {(True, True)}
        user = await add_user(admin, unique_name(), START)
        async with connection(user["sync_url"]) as raw:
            assert await raw.fetchval("SELECT public.focus_user_id()") == uuid.UUID(user["user_id"])
            assert not await raw.fetchval(
                "SELECT has_database_privilege(current_database(), 'TEMPORARY')"
            )
        await remove_user(admin, user["role"], purge=True)
    finally:
        async with connection(pg_admin) as raw:
            await raw.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await raw.execute(f"DROP ROLE IF EXISTS {name}")
