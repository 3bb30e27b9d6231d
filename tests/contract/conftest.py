"""One repository contract, two stores: every test here runs on a real SQLite file and on a
real Postgres (the suite's server, a database of the test's own, logged in as a Focus user
that `focus server add-user` made, so row-level security is in force)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from storage.local import open_repository
from storage.sql import SqlRepository

RepoFactory = Callable[..., Awaitable[SqlRepository]]


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
    second process, as far as the store can tell); all are closed when the test ends."""
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
