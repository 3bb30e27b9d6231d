"""One repository contract, two stores: every test here runs on a real SQLite file and on a
real Postgres (the suite's server, a database of the test's own, logged in as a Focus user
that `focus server add-user` made, so row-level security is in force)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from storage.local import open_repository
from storage.repository import Identity
from storage.sql import SqlRepository

RepoFactory = Callable[..., Awaitable[SqlRepository]]
Mark = Callable[[SqlRepository], Awaitable[object]]
Count = Callable[[SqlRepository], Awaitable[int]]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the Postgres half at collection, so `-m "not postgres"` deselects it (a marker
    applied in the fixture comes too late for `-m`)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    return str(request.param)


@pytest.fixture
def store_admin(backend: str, request: pytest.FixtureRequest) -> str | None:
    """The admin URL of the test's Postgres database (server init done), or None."""
    return str(request.getfixturevalue("pg_admin")) if backend == "postgres" else None


@pytest.fixture
async def open_store(
    store_admin: str | None, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[RepoFactory]:
    """`await open_store(zone)`: one more repository of the same user on the same store (a
    second process, as far as the store can tell); all are closed when the test ends.
    Options: `zone_configured`, and `concurrent` (the app's way of opening: SQLite in a
    thread of its own, Postgres with a connection of its own for writes)."""
    opened: list[SqlRepository] = []
    urls: list[str] = []

    async def make(zone: ZoneInfo | None = None, **options: Any) -> SqlRepository:
        zone = zone or ZoneInfo("UTC")
        if store_admin is not None:
            from storage.postgres import open_pg_repository
            from tests.pg import add_user

            if not urls:
                urls.append(str((await add_user(store_admin))["sync_url"]))
            repo = await open_pg_repository(urls[0], zone, **options)
        else:
            if "concurrent" in options:
                options["threaded"] = options.pop("concurrent")
            repo = await open_repository(tmp_path / "focus.db", zone, clock.now(), **options)
        opened.append(repo)
        return repo

    yield make
    for repo in reversed(opened):
        await repo.close()


@pytest.fixture
async def repo(open_store: RepoFactory, zone: ZoneInfo) -> SqlRepository:
    """The store under test (overrides the SQLite-only `repo` of tests/conftest.py)."""
    return await open_store(zone)


@pytest.fixture
async def open_other(
    repo: SqlRepository, store_admin: str | None, tmp_path: Path
) -> AsyncIterator[RepoFactory]:
    """`await open_other()`: a repository of ANOTHER user (a new one at every call) on the
    store `repo` is on. SQLite: another identity on the same file, on a connection of its
    own; Postgres: another Focus user made by `add-user`, logged in as its own role."""
    opened: list[SqlRepository] = []

    async def make(zone: ZoneInfo | None = None) -> SqlRepository:
        zone = zone or ZoneInfo("UTC")
        if store_admin is not None:
            from storage.postgres import open_pg_repository
            from tests.pg import add_user

            url = str((await add_user(store_admin))["sync_url"])
            other = await open_pg_repository(url, zone)
        else:
            from storage.sqlite import open_conn

            conn = await open_conn(tmp_path / "focus.db", writable=True, threaded=False)
            other = SqlRepository(conn, Identity(uuid.uuid4(), uuid.uuid4()), zone)
        opened.append(other)
        return other

    yield make
    for other in reversed(opened):
        await other.close()


@pytest.fixture
def written(store_admin: str | None, tmp_path: Path) -> Mark:
    """`await written(repo)`: a mark that changes with every write the store commits for
    `repo`'s user, readable also after `repo` is closed. SQLite: the database file and its
    write-ahead log, byte for byte, with the file's mtime; Postgres: the user's change
    counter, which every write transaction of the user raises."""

    async def mark(repo: SqlRepository) -> object:
        if store_admin is None:
            path = tmp_path / "focus.db"
            wal = path.with_name(path.name + "-wal")
            return (
                path.read_bytes(),
                path.stat().st_mtime_ns,
                wal.read_bytes() if wal.exists() else b"",
            )
        import asyncpg

        conn = await asyncpg.connect(store_admin)
        try:
            return await conn.fetchval(
                "SELECT change_stamp FROM user_state WHERE user_id = $1", repo.identity.user_id
            )
        finally:
            await conn.close()

    return mark


@pytest.fixture
def changes(backend: str) -> Count:
    """`await changes(repo)`: the changes the store has recorded for the other devices of
    `repo`'s user: outbox rows on a device's SQLite file, the user's change counter on
    Postgres (raised by every write transaction of the user). Neither moves when a
    transaction rolls back, nor when another user writes."""

    async def count(repo: SqlRepository) -> int:
        if backend == "postgres":
            found = await repo.conn.fetch(
                "SELECT change_stamp FROM user_state WHERE user_id = :uid",
                {"uid": repo.conn.value(repo.identity.user_id)},
            )
            return int(found[0][0])
        return await repo.pending_changes()

    return count
