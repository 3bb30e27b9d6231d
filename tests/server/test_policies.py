"""What `focus server init` leaves in the catalog: forced row-level security on every table,
owned by the admin; policies on the login (`current_user` through `focus_users`) that check
every write; powerless client roles; keys that all include user_id."""

from __future__ import annotations

from typing import Any

import pytest

from storage.server import CLIENT_GROUP
from tests.conftest import UserFactory
from tests.server.support import TABLES, connection

pytestmark = pytest.mark.postgres

PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
# The command a privilege is used by, and what its policy must hold (USING and/or WITH CHECK).
NEEDS = {
    "SELECT": ("qual",),
    "INSERT": ("with_check",),
    "UPDATE": ("qual", "with_check"),
    "DELETE": ("qual",),
}
# The rows every client may read, and the one table whose policy is the login itself.
SHARED = {"meta", "alembic_version"}
MAPPING = "focus_users"
# A user's rows: user_id is the one `focus_users` maps the login to, read through the
# mapping function or straight from the table (as Postgres prints the policy back).
OWN_ROWS = {
    "(user_id = ( SELECT focus_user_id() AS focus_user_id))",
    "(user_id = ( SELECT f.user_id FROM focus_users f WHERE ((f.role_name)::text = CURRENT_USER)))",
}
# Client-writable tables: every key of theirs must include user_id.
USER_TABLES = {
    "sessions",
    "ledger",
    "rollups",
    "streak_cache",
    "libraries",
    "tracks",
    "user_state",
    "sync_clients",
    "sync_rejections",
    "deletions",
}
# The client group and every role that is a member of it, however indirectly.
CLIENTS = (
    "WITH RECURSIVE clients(oid) AS (SELECT oid FROM pg_roles WHERE rolname = $1 "
    "UNION SELECT m.member FROM pg_auth_members m JOIN clients c ON m.roleid = c.oid) "
)


async def client_privileges(raw: Any) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table in TABLES:
        found[table] = {
            p
            for p in PRIVILEGES
            if await raw.fetchval(
                "SELECT has_table_privilege($1, $2, $3)", CLIENT_GROUP, f"public.{table}", p
            )
        }
    return found


async def test_every_table_forces_row_level_security_and_is_the_admins(
    pg_admin: str, pg_user: UserFactory
) -> None:
    await pg_user()
    async with connection(pg_admin) as raw:
        admin = await raw.fetchval("SELECT current_user")
        rows = await raw.fetch(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "pg_get_userbyid(c.relowner) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
        others = await raw.fetch(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm', 'f')"
        )
    found = {r[0]: (r[1], r[2], r[3]) for r in rows}
    assert sorted(found) == TABLES  # and no table beside them
    assert {t: v for t, v in found.items() if v != (True, True, admin)} == {}
    assert [tuple(r) for r in others] == []  # no view, which would run as its owner


async def test_policies_check_every_granted_write_through_the_login(
    pg_admin: str, pg_user: UserFactory
) -> None:
    await pg_user()
    async with connection(pg_admin) as raw:
        admin = await raw.fetchval("SELECT current_user")
        granted = await client_privileges(raw)
        policies = [
            dict(r)
            for r in await raw.fetch(
                "SELECT tablename, policyname, permissive, roles::text[] AS roles, cmd, qual, "
                "with_check FROM pg_policies WHERE schemaname = 'public'"
            )
        ]
        function = await raw.fetchrow(
            "SELECT prosrc, prosecdef, pg_get_userbyid(proowner), proconfig::text[] "
            "FROM pg_proc WHERE oid = 'public.focus_user_id()'::regprocedure"
        )
    problems = []
    for policy in policies:
        text = f"{policy['qual']} {policy['with_check']}"
        if "current_setting" in text or "app." in text:
            problems.append(f"{policy['tablename']}.{policy['policyname']} trusts a setting")
        if policy["permissive"] != "PERMISSIVE":
            problems.append(f"{policy['tablename']}.{policy['policyname']} is restrictive")
        if "public" in policy["roles"]:
            problems.append(f"{policy['tablename']}.{policy['policyname']} applies to PUBLIC")
        if policy["roles"] not in ([CLIENT_GROUP], [admin]):
            problems.append(f"{policy['tablename']}.{policy['policyname']}: {policy['roles']}")
    for table in TABLES:
        mine = [p for p in policies if p["tablename"] == table and p["roles"] == [CLIENT_GROUP]]
        if table in SHARED or table == MAPPING:
            if granted[table] != {"SELECT"}:
                problems.append(f"clients may {sorted(granted[table])} {table}")
            if [p["cmd"] for p in mine] != ["SELECT"]:
                problems.append(f"{table}: client policies {mine}")
            expected = "true" if table in SHARED else "((role_name)::text = CURRENT_USER)"
            if [p["qual"] for p in mine] != [expected]:
                problems.append(f"{table}: {mine}")
            continue
        if granted[table] and not granted[table] <= set(NEEDS):
            problems.append(f"clients may {sorted(granted[table] - set(NEEDS))} {table}")
        for privilege in granted[table] & set(NEEDS):
            covering = [p for p in mine if p["cmd"] in (privilege, "ALL")]
            if not covering:
                problems.append(f"{table}: {privilege} granted, no policy (all denied)")
            for p in covering:
                for part in NEEDS[privilege]:
                    expr = p[part] or (p["qual"] if part == "with_check" else None)
                    if part == "with_check" and p[part] is None:
                        problems.append(f"{table}.{p['policyname']}: {privilege} lacks WITH CHECK")
                    if " ".join(str(expr).split()) not in OWN_ROWS:
                        problems.append(f"{table}.{p['policyname']} {part}: {expr}")
    assert problems == [], "\n".join(problems)
    # Every client table has its rows (the device tables none: no grant, admin only).
    assert {t for t, p in granted.items() if p} == USER_TABLES | SHARED | {MAPPING}
    assert granted["outbox"] == granted["sync_state"] == set()
    # The user is the login's, through the mapping: read as the caller (not the definer,
    # whose current_user is the admin), with a fixed search path.
    source, definer, owner, config = function
    assert "current_user" in source and "public.focus_users" in source
    assert "current_setting" not in source
    assert not definer
    assert owner == admin
    assert any(c.startswith("search_path=") for c in config)


async def test_client_roles_are_powerless_and_own_nothing(
    pg_admin: str, pg_user: UserFactory
) -> None:
    users = [await pg_user(), await pg_user()]
    async with connection(pg_admin) as raw:
        roles = await raw.fetch(
            CLIENTS + "SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, "
            "r.rolcreatedb, r.rolreplication, r.rolcanlogin FROM pg_roles r "
            "WHERE r.oid IN (SELECT oid FROM clients)",
            CLIENT_GROUP,
        )
        members = {r[0] for r in roles}
        assert {u["role"] for u in users} | {CLIENT_GROUP} <= members
        powers = {r[0]: tuple(r[1:6]) for r in roles}
        assert {n: p for n, p in powers.items() if any(p)} == {}
        # The group itself cannot log in; its members may only log in.
        assert [r[6] for r in roles if r[0] == CLIENT_GROUP] == [False]
        owned = await raw.fetch(
            CLIENTS + "SELECT 'class', relname::text FROM pg_class "
            "WHERE relowner IN (SELECT oid FROM clients) "
            "UNION ALL SELECT 'function', proname::text FROM pg_proc "
            "WHERE proowner IN (SELECT oid FROM clients) "
            "UNION ALL SELECT 'schema', nspname::text FROM pg_namespace "
            "WHERE nspowner IN (SELECT oid FROM clients) "
            "UNION ALL SELECT 'type', typname::text FROM pg_type "
            "WHERE typowner IN (SELECT oid FROM clients) "
            "UNION ALL SELECT 'database', datname::text FROM pg_database "
            "WHERE datdba IN (SELECT oid FROM clients)",
            CLIENT_GROUP,
        )
        assert [tuple(r) for r in owned] == []
        # No role may act as a client's; no client is a member of anything but the group.
        granted = await raw.fetch(
            "SELECT pg_get_userbyid(m.member), pg_get_userbyid(m.roleid) FROM pg_auth_members m "
            "WHERE pg_get_userbyid(m.member) = ANY($1::text[]) "
            "OR pg_get_userbyid(m.roleid) = ANY($1::text[])",
            [u["role"] for u in users],
        )
        assert sorted(tuple(r) for r in granted) == sorted((u["role"], CLIENT_GROUP) for u in users)
        for user in users:
            for privilege in ("TRUNCATE", "REFERENCES", "TRIGGER"):
                assert not await raw.fetchval(
                    "SELECT bool_or(has_table_privilege($1, 'public.' || t, $2)) "
                    "FROM unnest($3::text[]) AS t",
                    user["role"],
                    privilege,
                    TABLES,
                ), (user["role"], privilege)
            assert not await raw.fetchval(
                "SELECT has_schema_privilege($1, 'public', 'CREATE')", user["role"]
            )
            for privilege in ("CREATE", "TEMPORARY"):
                assert not await raw.fetchval(
                    "SELECT has_database_privilege($1, current_database(), $2)",
                    user["role"],
                    privilege,
                ), (user["role"], privilege)


async def test_every_key_of_a_user_table_includes_user_id(pg_admin: str) -> None:
    """Referential checks bypass row-level security: a key without user_id could tell one
    user that another's row exists. The tables with such keys are no client's to write."""
    async with connection(pg_admin) as raw:
        constraints = await raw.fetch(
            "SELECT c.relname, k.conname, k.contype::text, "
            "ARRAY(SELECT attname FROM unnest(k.conkey) WITH ORDINALITY AS u(n, o) "
            "      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n "
            "      ORDER BY u.o)::text[], "
            "ARRAY(SELECT attname FROM unnest(k.confkey) WITH ORDINALITY AS u(n, o) "
            "      JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n "
            "      ORDER BY u.o)::text[] "
            "FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
            "WHERE k.contype IN ('p', 'u', 'f', 'x')"
        )
        indexes = await raw.fetch(
            "SELECT c.relname, i.indexrelid::regclass::text, "
            "ARRAY(SELECT attname FROM unnest(i.indkey) AS u(n) "
            "      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.n)::text[], "
            "i.indexprs IS NOT NULL FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' "
            "WHERE i.indisunique"
        )
        granted = await client_privileges(raw)
    writable = {t for t, p in granted.items() if p & {"INSERT", "UPDATE", "DELETE"}}
    assert writable == USER_TABLES
    problems = []
    keyed_without: set[str] = set()
    for table, name, kind, cols, referred in constraints:
        if kind == "f" and ("user_id", "user_id") not in zip(cols, referred, strict=True):
            keyed_without.add(table)
            problems.append(f"{table}.{name}: foreign key {cols} -> {referred}")
        elif "user_id" not in cols:
            keyed_without.add(table)
            problems.append(f"{table}.{name} ({kind}): {cols}")
    for table, name, cols, expression in indexes:
        if "user_id" not in cols or expression:
            keyed_without.add(table)
            problems.append(f"{table}.{name} (unique index): {cols}")
    user_problems = [p for p in problems if p.split(".", 1)[0] in USER_TABLES]
    assert user_problems == []
    # The keys without user_id: the shared rows, the device-only outbox, the login mapping.
    assert keyed_without <= {"meta", "alembic_version", "outbox", MAPPING}
    assert not keyed_without & writable
    # Foreign keys exist where they matter (tracks of a library) and are all per user.
    assert any(kind == "f" and table == "tracks" for table, _, kind, _, _ in constraints)
