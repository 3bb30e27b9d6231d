"""`focus server add-user | remove-user` through the installed console script: the printed
URL logs in as the new user; names are checked; removal drops the login and keeps the rows
unless `--purge`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from app.domain.errors import ConfigError
from storage.postgres import open_pg_repository
from storage.schema import metadata
from tests.conftest import START
from tests.e2e.conftest import Focus, assert_one_line_error, make_focus
from tests.pg import unique_name
from tests.server.support import attempt, connection, rows_of, write_user_data

pytestmark = pytest.mark.postgres

# Every table with rows of a user, beside the login mapping.
THEIRS = {t.name for t in metadata.sorted_tables if "user_id" in t.c} - {"focus_users"}


@pytest.fixture
def focus(tmp_path: Path) -> Focus:
    return make_focus(tmp_path)


def add(focus: Focus, admin: str, name: str) -> dict[str, Any]:
    proc = focus("server", "add-user", name, "--json", db=False, env={"FOCUS_ADMIN_URL": admin})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    found = json.loads(proc.stdout)
    assert isinstance(found, dict)
    return found


async def logs_in_as(url: str) -> tuple[str, uuid.UUID]:
    async with connection(url) as raw:
        row = await raw.fetchrow("SELECT current_user, public.focus_user_id()")
    return str(row[0]), uuid.UUID(bytes=row[1].bytes)


async def test_add_user_prints_a_url_that_logs_in_as_the_new_user(
    pg_admin: str, focus: Focus
) -> None:
    name = unique_name("ada")
    proc = focus("server", "add-user", name, "--json", "--admin-url", pg_admin, db=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    printed = json.loads(proc.stdout)
    assert set(printed) == {"user_id", "sync_url"}
    user_id = uuid.UUID(printed["user_id"])
    assert await logs_in_as(printed["sync_url"]) == (name, user_id)
    repo = await open_pg_repository(printed["sync_url"], START.tzinfo)  # type: ignore[arg-type]
    try:
        assert repo.identity.user_id == user_id
    finally:
        await repo.close()
    # Without --json: the same two facts, for a person.
    other = unique_name("bob")
    proc = focus("server", "add-user", other, db=False, env={"FOCUS_ADMIN_URL": pg_admin})
    assert proc.returncode == 0 and proc.stderr == ""
    assert other in proc.stdout and "sync_url postgresql://" in proc.stdout


async def test_a_taken_name_is_refused_with_one_line(pg_admin: str, focus: Focus) -> None:
    name = unique_name("dup")
    first = add(focus, pg_admin, name)
    async with connection(pg_admin) as raw:
        before = await raw.fetch("SELECT * FROM focus_users ORDER BY role_name")
    for taken in (name, "postgres"):
        proc = focus("server", "add-user", taken, "--admin-url", pg_admin, db=False)
        line = assert_one_line_error(proc, 1)
        assert taken in line and "already exists" in line
    async with connection(pg_admin) as raw:
        assert await raw.fetch("SELECT * FROM focus_users ORDER BY role_name") == before
    # The first user's login still works, with its own password.
    assert await logs_in_as(first["sync_url"]) == (name, uuid.UUID(first["user_id"]))


@pytest.mark.parametrize(
    "name",
    ["Ada", "1ada", "ada-lovelace", "ada lovelace", "pg_ada", "focus_client", "a" * 64, "ada;x"],
)
async def test_a_bad_name_is_refused_as_usage(pg_admin: str, focus: Focus, name: str) -> None:
    async with connection(pg_admin) as raw:
        before = await raw.fetchval("SELECT count(*) FROM pg_roles")
    proc = focus("server", "add-user", name, "--admin-url", pg_admin, db=False)
    assert "not allowed" in assert_one_line_error(proc, 2)
    async with connection(pg_admin) as raw:
        assert await raw.fetchval("SELECT count(*) FROM pg_roles") == before
        assert await raw.fetchval("SELECT count(*) FROM focus_users") == 0


async def test_remove_user_drops_the_login_and_keeps_the_rows(pg_admin: str, focus: Focus) -> None:
    name = unique_name("eve")
    user = add(focus, pg_admin, name)
    user_id = uuid.UUID(user["user_id"])
    await write_user_data(pg_admin, {**user, "role": name}, START)
    async with connection(pg_admin) as raw:
        kept = await rows_of(raw, user_id)
    # A connection opened before the removal reaches nothing once its role is gone.
    async with connection(user["sync_url"]) as still_open:
        assert await still_open.fetchval("SELECT count(*) FROM sessions") == 3
        proc = focus("server", "remove-user", name, "--json", "--admin-url", pg_admin, db=False)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"user_id": str(user_id), "role": name, "rows_removed": 0}
        for sql in ("SELECT count(*) FROM sessions", "SELECT count(*) FROM ledger"):
            out = await attempt(still_open, sql)
            assert out.denied or out.rows == ((0,),), out.shown()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(user["sync_url"])
    with pytest.raises(ConfigError, match=name):
        await open_pg_repository(user["sync_url"], START.tzinfo)  # type: ignore[arg-type]
    async with connection(pg_admin) as raw:
        after = await rows_of(raw, user_id)
        assert await raw.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name) is None
    assert after["focus_users"] == []
    assert {t: r for t, r in after.items() if t != "focus_users"} == {
        t: r for t, r in kept.items() if t != "focus_users"
    }
    # The name is free again: a new user under it, who sees none of the kept rows.
    again = add(focus, pg_admin, name)
    assert again["user_id"] != user["user_id"]
    async with connection(again["sync_url"]) as raw:
        assert await raw.fetchval("SELECT count(*) FROM sessions") == 0
        assert await raw.fetchval("SELECT count(*) FROM ledger") == 0
    # Removing a name that is no user: refused in one line.
    proc = focus("server", "remove-user", unique_name("nobody"), "--admin-url", pg_admin, db=False)
    assert "no Focus user" in assert_one_line_error(proc, 1)


async def test_remove_user_purge_deletes_every_row_of_theirs_only(
    pg_admin: str, focus: Focus
) -> None:
    users = [add(focus, pg_admin, unique_name("pur")) for _ in range(2)]
    gone, stays = (uuid.UUID(u["user_id"]) for u in users)
    for user in users:
        await write_user_data(pg_admin, user, START)
    async with connection(pg_admin) as raw:
        before = await rows_of(raw, gone)
        other = await rows_of(raw, stays)
        role = await raw.fetchval("SELECT role_name FROM focus_users WHERE user_id = $1", gone)
    proc = focus(
        "server", "remove-user", role, "--purge", "--json", "--admin-url", pg_admin, db=False
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["rows_removed"] == sum(len(before[t]) for t in THEIRS)
    async with connection(pg_admin) as raw:
        after = await rows_of(raw, gone)
        assert await rows_of(raw, stays) == other
    left = {t: len(r) for t, r in after.items() if r and t in THEIRS | {"focus_users"}}
    assert left == {}
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(users[0]["sync_url"])
