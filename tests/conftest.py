"""Shared fixtures: a fake clock, a real SQLite file per test, and a clean environment."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.sql import SqlRepository

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Keep the developer's own config, database and time zone out of every test."""
    home = tmp_path_factory.mktemp("home")
    for name in list(__import__("os").environ):
        if name.startswith("FOCUS_") and name != "FOCUS_TEST_PG_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("TZ", "UTC")
    yield


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def zone() -> ZoneInfo:
    return ZoneInfo("UTC")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "focus.db"


@pytest.fixture
async def repo(db_path: Path, zone: ZoneInfo, clock: FakeClock) -> AsyncIterator[SqlRepository]:
    repository = await open_repository(db_path, zone, clock.now())
    yield repository
    await repository.close()


@pytest.fixture
def events() -> list[tuple[str, dict[str, object]]]:
    return []


@pytest.fixture
def service(
    repo: SqlRepository,
    clock: FakeClock,
    zone: ZoneInfo,
    events: list[tuple[str, dict[str, object]]],
) -> FocusService:
    return FocusService(repo, clock, zone, TimerRules(), events=lambda e, s: events.append((e, s)))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The suite's Postgres server (see tests/pg.py), started on first use."""
    from tests.pg import server_url

    with server_url() as url:
        yield url


@pytest.fixture
async def pg_url(pg_server: str) -> str:
    """A fresh database of this test's own on the suite's Postgres server."""
    from tests.pg import create_database

    return await create_database(pg_server)


@pytest.fixture
async def pg_admin(pg_url: str) -> str:
    """The admin URL of a fresh database that `focus server init` has set up."""
    from tests.pg import init_server

    await init_server(pg_url)
    return pg_url


UserFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def pg_user(pg_admin: str) -> UserFactory:
    """`await pg_user()`: a new Focus user on `pg_admin` ({'user_id', 'role', 'sync_url'})."""
    from tests.pg import add_user

    async def make(name: str | None = None) -> dict[str, Any]:
        return await add_user(pg_admin, name)

    return make
