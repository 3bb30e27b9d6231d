"""Sync fixtures: a user with two devices (two real SQLite files driven by one fake clock),
a second user with a device of their own, and helpers that read the shared Postgres as its
admin (who sees every user's rows)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.clock import FakeClock
from app.domain.models import Mode, Session, Stats
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.pg_connect import Timeouts
from storage.sql import SqlRepository
from storage.sync import SyncReport, SyncTarget, sync
from tests.conftest import UserFactory
from tests.contract.helpers import cached, recount

UTC = ZoneInfo("UTC")


@dataclass
class Device:
    """One device: its own SQLite file and service, on the test's clock."""

    name: str
    path: Path
    repo: SqlRepository
    service: FocusService
    clock: FakeClock
    user: dict[str, Any]
    """The server user this device syncs as (its `sync_url`)."""

    async def sync(
        self,
        batch_size: int = 1000,
        timeouts: Timeouts | None = None,
        url: str | None = None,
    ) -> SyncReport:
        target = SyncTarget(
            url or self.user["sync_url"],
            batch_size=batch_size,
            timeouts=timeouts or Timeouts(5, 10),
        )
        return await sync(self.repo, target, self.clock.now())

    async def session(
        self,
        minutes: float = 25,
        work: float = 25,
        *,
        how: str = "complete",
        mode: Mode = Mode.FOCUS,
        task: str | None = None,
        tags: tuple[str, ...] = (),
        gap: float = 5,
    ) -> Session:
        """A session of `minutes` started now; after `work` minutes completed, abandoned or
        left open (`how`); then the clock moves on `gap` more minutes."""
        s = await self.service.start(mode=mode, minutes=minutes, task=task, tags=tags)
        self.clock.advance(minutes=work)
        if how == "complete":
            s = (await self.service.complete()).session
        elif how == "abandon":
            s = await self.service.abandon("meeting")
        elif how != "open":
            raise ValueError(how)
        self.clock.advance(minutes=gap)
        return s

    async def sessions(self) -> dict[uuid.UUID, Session]:
        return {s.id: s async for s in self.repo.iter_sessions()}

    async def outbox(self) -> int:
        return await self.repo.pending_changes()

    async def view(self) -> tuple[Stats, int, dict[uuid.UUID, Session]]:
        """What the user sees on this device: the stats, the xp total and every session."""
        return await self.service.stats(), await self.repo.total_xp(), await self.sessions()


@dataclass
class Devices:
    """Makes devices on the test's clock; each is closed when the test ends."""

    root: Path
    clock: FakeClock
    opened: list[Device] = field(default_factory=list)

    async def open(self, name: str, user: dict[str, Any], path: Path | None = None) -> Device:
        path = path or self.root / f"{name}.db"
        repo = await open_repository(path, UTC, self.clock.now())
        service = FocusService(repo, self.clock, UTC, TimerRules())
        device = Device(name, path, repo, service, self.clock, user)
        self.opened.append(device)
        return device

    async def close(self, device: Device) -> None:
        await device.repo.close()
        self.opened.remove(device)

    async def reopen(self, device: Device) -> Device:
        await self.close(device)
        return await self.open(device.name, device.user, device.path)


@pytest.fixture
async def devices(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Devices]:
    made = Devices(tmp_path, clock)
    yield made
    for device in list(made.opened):
        await device.repo.close()


@pytest.fixture(scope="session")
def sync_database(pg_server: str) -> str:
    """One database, set up by `focus server init`, for every sync test: each test has users
    (login roles) of its own, and a user sees only their own rows, so the tests cannot see
    each other's data; a database per test would cost half a second each."""
    from tests.pg import create_database, init_server

    async def make() -> str:
        url = await create_database(pg_server)
        await init_server(url)
        return url

    return asyncio.run(make())


@pytest.fixture
def pg_admin(sync_database: str) -> str:
    """The admin URL of the shared sync database (see `sync_database`)."""
    return sync_database


@pytest.fixture
async def user(pg_user: UserFactory) -> dict[str, Any]:
    """The user both devices belong to: {'user_id', 'role', 'sync_url'}."""
    return await pg_user()


@pytest.fixture
async def other_user(pg_user: UserFactory) -> dict[str, Any]:
    """A second user on the same server."""
    return await pg_user()


@pytest.fixture
async def laptop(devices: Devices, user: dict[str, Any]) -> Device:
    return await devices.open("laptop", user)


@pytest.fixture
async def phone(devices: Devices, user: dict[str, Any]) -> Device:
    return await devices.open("phone", user)


@pytest.fixture
async def stranger(devices: Devices, other_user: dict[str, Any]) -> Device:
    """The second user's own device."""
    return await devices.open("stranger", other_user)


@contextmanager
def local_db(path: Path) -> Iterator[sqlite3.Connection]:
    """A device's SQLite file opened by another process (a hand, a bug, a bad disk): what is
    done in the block is committed, and the connection closed."""
    db = sqlite3.connect(path)
    try:
        with db:
            yield db
    finally:
        db.close()


# -- the server, as its admin sees it ---------------------------------------------------------


async def admin_fetch(admin: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    raw = await asyncpg.connect(admin)
    try:
        return list(await raw.fetch(sql, *args))
    finally:
        await raw.close()


@dataclass(frozen=True)
class ServerView:
    """One user's synced rows on the server."""

    sessions: dict[uuid.UUID, dict[str, Any]]
    ledger: dict[str, dict[str, Any]]
    """By idempotency key."""
    rejections: list[dict[str, Any]]
    clients: dict[uuid.UUID, int]
    """last_mutation_id by device."""
    stamp: int

    def counts(self) -> tuple[int, int, int]:
        return len(self.sessions), len(self.ledger), len(self.rejections)


def as_uuid(value: Any) -> uuid.UUID:
    return value if type(value) is uuid.UUID else uuid.UUID(str(value))


async def server_view(admin: str, user: dict[str, Any]) -> ServerView:
    uid = uuid.UUID(user["user_id"])
    raw = await asyncpg.connect(admin)
    try:
        sessions = await raw.fetch("SELECT * FROM sessions WHERE user_id = $1", uid)
        ledger = await raw.fetch("SELECT * FROM ledger WHERE user_id = $1", uid)
        rejected = await raw.fetch(
            "SELECT * FROM sync_rejections WHERE user_id = $1 ORDER BY mutation_id", uid
        )
        clients = await raw.fetch(
            "SELECT client_id, last_mutation_id FROM sync_clients WHERE user_id = $1", uid
        )
        stamp = await raw.fetchval("SELECT change_stamp FROM user_state WHERE user_id = $1", uid)
    finally:
        await raw.close()
    return ServerView(
        {as_uuid(r["id"]): dict(r) for r in sessions},
        {r["idempotency_key"]: dict(r) for r in ledger},
        [dict(r) for r in rejected],
        {as_uuid(r["client_id"]): int(r["last_mutation_id"]) for r in clients},
        int(stamp or 0),
    )


# -- what every device must agree on -----------------------------------------------------------


async def check_consistent(device: Device) -> None:
    """The device's derived data equals a recount of its own sessions: the stats cache, the
    ledger against the rewards the sessions carry, and the streak."""
    from app.domain.rewards import day_runs, streak_from_runs
    from tests.contract.helpers import ledger_totals

    assert await cached(device.repo) == await recount(device.repo, UTC), device.name
    sessions = await device.sessions()
    xp = sum(s.xp_awarded for s in sessions.values())
    coins = sum(s.coins_awarded for s in sessions.values())
    assert await ledger_totals(device.repo) == (xp, coins), device.name
    assert await device.repo.total_xp() == xp, device.name
    days = [
        s.completed_at.astimezone(UTC).date()
        for s in sessions.values()
        if s.mode is Mode.FOCUS and s.xp_awarded > 0 and s.completed_at is not None
    ]
    stats = await device.service.stats()
    today = device.clock.now().astimezone(UTC).date()
    assert stats.streak == streak_from_runs(*day_runs(days, UTC), today, UTC), device.name
    assert stats.level.total_xp == xp


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def later(clock: FakeClock, **delta: float) -> datetime:
    return clock.advance(**delta)


class BlackHole:
    """A 127.0.0.1 port that accepts every connection and never says a word (on the test's
    own event loop: closing it is immediate)."""

    def __init__(self) -> None:
        self.accepted: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> BlackHole:
        async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.accepted.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.accepted:
            writer.close()
        await self.server.wait_closed()
