"""A real Postgres for the suite: `FOCUS_TEST_PG_URL`, else a throwaway server from the
`pgserver` wheel (PostgreSQL binaries on PyPI; runs as root), started once per session and
stopped at its end, also when a test fails. Each test gets a database of its own."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit


@contextmanager
def server_url() -> Iterator[str]:
    """A libpq URL of a server this suite may create databases on."""
    given = os.environ.get("FOCUS_TEST_PG_URL")
    if given:
        yield given
        return
    import pgserver

    folder = tempfile.mkdtemp(prefix="focus-pg-")
    server = pgserver.get_server(folder, cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


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
