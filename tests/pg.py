"""A real Postgres for the suite: `FOCUS_TEST_PG_URL`, else a throwaway server from the
`pgserver` wheel (PostgreSQL binaries on PyPI; runs as root), started once per session and
stopped at its end, also when a test fails. Each test gets a database of its own.

The suite's own server is set up the way a shared server is run: the admin (`postgres`)
logs in over the local socket without a password, every other role needs its password
(SCRAM), so a wrong password is refused as it would be in production.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HBA = """\
# Written by the Focus test suite: the admin by the socket, everyone else by password.
local   all   postgres                  trust
local   all   all                       scram-sha-256
host    all   postgres   127.0.0.1/32   trust
host    all   all        127.0.0.1/32   scram-sha-256
host    all   all        ::1/128        scram-sha-256
"""


async def require_passwords(url: str) -> None:
    """Rewrite the server's pg_hba.conf so that client roles need their password."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        path = await conn.fetchval("SHOW hba_file")
        with open(path, "w", encoding="utf-8") as f:
            f.write(HBA)
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@contextmanager
def own_server(prefix: str = "focus-pg-") -> Iterator[str]:
    """A throwaway server of the suite's own (pgserver), removed when the block ends."""
    with warnings.catch_warnings():  # platformdirs: no XDG_RUNTIME_DIR in a container
        warnings.simplefilter("ignore")
        import pgserver

        folder = tempfile.mkdtemp(prefix=prefix)
        server = pgserver.get_server(folder, cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        url = server.get_uri()
        asyncio.run(require_passwords(url))
        yield url
    finally:
        server.cleanup()


@contextmanager
def server_url() -> Iterator[str]:
    """A libpq URL of a server this suite may create databases and roles on."""
    given = os.environ.get("FOCUS_TEST_PG_URL")
    if given:
        yield given
        return
    with own_server() as url:
        yield url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def create_database(url: str) -> str:
    """A new, empty database on the server at `url`; its URL."""
    import asyncpg

    name = f"focus_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(url, name)


def asyncpg_url(url: str) -> str:
    """The SQLAlchemy form of a libpq URL."""
    return "postgresql+asyncpg" + url[url.index("://") :]


def unique_name(prefix: str = "u") -> str:
    """A role name no other test uses (roles are shared by every database of a server)."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def init_server(admin_url: str) -> dict[str, Any]:
    """`focus server init` on the database at `admin_url`."""
    from storage.postgres import Timeouts
    from storage.server import admin_target, init

    return await init(admin_target(admin_url, Timeouts()))


async def add_user(admin_url: str, name: str | None = None) -> dict[str, Any]:
    """`focus server add-user`: {'user_id', 'role', 'sync_url'} of a new user."""
    from storage.postgres import Timeouts
    from storage.server import add_user as add
    from storage.server import admin_target

    return await add(admin_target(admin_url, Timeouts()), name or unique_name(), datetime.now(UTC))
