"""The set-based helpers of storage/bulk.py: one statement whatever the number of rows, each
row guarded by the version it was computed from."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest

from app.domain import timer
from app.domain.models import Mode, Session, Status
from storage import bulk
from storage.codec import SESSION_COLUMNS, session_to_row
from storage.postgres import session_from_pg
from tests.conftest import START, UserFactory
from tests.server.support import connection

pytestmark = pytest.mark.postgres

MAX_PAUSE = timedelta(hours=2)
LATER = START + timedelta(days=1)
SIZES = [1, 10, 500]


@asynccontextmanager
async def admin_conn(url: str) -> AsyncIterator[Any]:
    """The admin's connection with JSON decoded, as `focus server` opens it."""
    async with connection(url) as raw:
        await raw.set_type_codec(
            "json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
        yield raw


@asynccontextmanager
async def statements(raw: Any) -> AsyncIterator[list[str]]:
    """The statements `raw` sends inside the block (asyncpg's query logger)."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(record.query)

    raw.add_query_logger(log)
    try:
        yield sent
    finally:
        await asyncio.sleep(0)  # the logger is called soon after each statement
        await asyncio.sleep(0)
        raw.remove_query_logger(log)


def made_up(sessions: Sequence[Session]) -> list[Session]:
    """A session no row holds: a warm-up call with it writes nothing, and asyncpg learns the
    statement's types (its introspection queries run once per connection, not per call)."""
    return [replace(sessions[0], id=uuid.uuid4())]


async def insert(raw: Any, sessions: Sequence[Session]) -> None:
    names = ", ".join(SESSION_COLUMNS)
    values = ", ".join(f"${i}" for i in range(1, len(SESSION_COLUMNS) + 1))
    await raw.executemany(
        f"INSERT INTO sessions ({names}) VALUES ({values})",
        [[session_to_row(s)[c] for c in SESSION_COLUMNS] for s in sessions],
    )


async def read(raw: Any, keys: list[tuple[uuid.UUID, uuid.UUID]]) -> dict[Any, Any]:
    rows = await raw.fetch(
        f"SELECT {', '.join(SESSION_COLUMNS)}, change_stamp FROM sessions "
        "WHERE (user_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))",
        [u for u, _ in keys],
        [i for _, i in keys],
    )
    found = {}
    for row in rows:
        session = session_from_pg(tuple(row)[:-1])
        found[(session.user_id, session.id)] = (session, row["change_stamp"])
    return found


def open_sessions(users: list[uuid.UUID], n: int) -> list[Session]:
    """`n` open sessions spread over `users`, each of a device of its own (one open session
    per device), every third one paused."""
    made = []
    for i in range(n):
        session = timer.new_session(
            session_id=uuid.uuid4(),
            user_id=users[i % len(users)],
            client_id=uuid.uuid4(),
            mode=Mode.FOCUS,
            planned=timedelta(minutes=25),
            now=START + timedelta(seconds=i),
            task_title=f"task {i}",
        )
        if i % 3 == 2:
            session = timer.pause(session, START + timedelta(minutes=10))
        made.append(session)
    return made


async def changed_elsewhere(raw: Any, sessions: Sequence[Session]) -> None:
    """Another writer changed these rows after they were read."""
    await raw.execute(
        "UPDATE sessions SET version = version + 1, task_title = 'changed elsewhere' "
        "WHERE (user_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))",
        [s.user_id for s in sessions],
        [s.id for s in sessions],
    )


@pytest.mark.parametrize("n", SIZES)
async def test_a_bulk_status_update_is_one_statement_guarded_by_version(
    pg_admin: str, pg_user: UserFactory, n: int
) -> None:
    users = [uuid.UUID((await pg_user())["user_id"]) for _ in range(2)]
    sessions = open_sessions(users, n)
    changes = [(s, timer.settle(s, LATER, MAX_PAUSE)) for s in sessions]
    assert {a.status for _, a in changes} == {Status.EXPIRED}
    stale = sessions[1::4]
    stamps = {users[0]: 41, users[1]: 42}
    keys = [(s.user_id, s.id) for s in sessions]
    async with admin_conn(pg_admin) as raw:
        await insert(raw, sessions)
        await changed_elsewhere(raw, stale)
        ghost = made_up(sessions)[0]
        assert await bulk.update_status(raw, [(ghost, ghost)], stamps) == set()
        async with statements(raw) as sent:
            written = await bulk.update_status(raw, changes, stamps)
        assert sent == [bulk.UPDATE_STATUS]
        rows = await read(raw, keys)
        # The same changes again: every row has moved on, so nothing is written.
        async with statements(raw) as again:
            assert await bulk.update_status(raw, changes, stamps) == set()
        assert again == [bulk.UPDATE_STATUS]
        assert await read(raw, keys) == rows
    left = {(s.user_id, s.id) for s in stale}
    assert written == set(keys) - left
    for before, after in changes:
        session, stamp = rows[(before.user_id, before.id)]
        if (before.user_id, before.id) in left:
            assert session == replace(
                before, version=before.version + 1, task_title=session.task_title
            )
            assert session.task_title == "changed elsewhere" and stamp is None
        else:
            assert session == after
            assert session.version == before.version + 1
            assert stamp == stamps[before.user_id]


def with_stale_pause(session: Session) -> Session:
    """A finished session that still carries pause fields (the reference's defect)."""
    return replace(
        session,
        paused_at=session.started_at + timedelta(minutes=1),
        paused_remaining=timedelta(minutes=3),
    )


@pytest.mark.parametrize("n", SIZES)
async def test_a_bulk_pause_clear_is_one_statement_guarded_by_version(
    pg_admin: str, pg_user: UserFactory, n: int
) -> None:
    users = [uuid.UUID((await pg_user())["user_id"]) for _ in range(2)]
    opened = open_sessions(users, n)
    sessions = [
        with_stale_pause(timer.abandon(s, START + timedelta(minutes=12), "x")) for s in opened
    ]
    stale = sessions[1::4]
    still_paused = [s for s in open_sessions(users, 3) if s.status is Status.PAUSED]
    assert still_paused
    stamps = {users[0]: 7, users[1]: 9}
    keys = [(s.user_id, s.id) for s in sessions + still_paused]
    async with admin_conn(pg_admin) as raw:
        await insert(raw, sessions + still_paused)
        await changed_elsewhere(raw, stale)
        before = await read(raw, keys)
        assert await bulk.clear_pauses(raw, made_up(sessions), LATER, stamps) == set()
        async with statements(raw) as sent:
            written = await bulk.clear_pauses(raw, sessions + still_paused, LATER, stamps)
        assert sent == [bulk.CLEAR_PAUSE]
        after = await read(raw, keys)
        async with statements(raw) as again:
            assert await bulk.clear_pauses(raw, sessions, LATER, stamps) == set()
        assert again == [bulk.CLEAR_PAUSE]
        assert await read(raw, keys) == after
    left = {(s.user_id, s.id) for s in stale + still_paused}
    assert written == set(keys) - left
    for key in keys:
        if key in left:
            assert after[key] == before[key]
            continue
        session, stamp = after[key]
        old, _ = before[key]
        assert session == replace(
            old, paused_at=None, paused_remaining=None, version=old.version + 1, updated_at=LATER
        )
        assert stamp == stamps[key[0]]


async def test_rollups_and_change_stamps_in_one_statement_each(
    pg_admin: str, pg_user: UserFactory
) -> None:
    users = [uuid.UUID((await pg_user())["user_id"]) for _ in range(3)]
    sessions = [timer.settle(s, LATER, MAX_PAUSE) for s in open_sessions(users, 300)]
    async with admin_conn(pg_admin) as raw:
        before = dict(await raw.fetch("SELECT user_id, change_stamp FROM user_state"))
        warm_up = raw.transaction()  # rolled back: asyncpg learns the types, nothing is kept
        await warm_up.start()
        await bulk.bump_users(raw, users)
        await bulk.add_rollups(raw, [(sessions[0], UTC)])
        await warm_up.rollback()
        async with statements(raw) as sent:
            bumped = await bulk.bump_users(raw, [s.user_id for s in sessions])
            await bulk.add_rollups(raw, ((s, UTC) for s in sessions))
        assert sent == [bulk.BUMP_USERS, bulk.ADD_ROLLUPS]
        assert {u: stamp for u, (stamp, _) in bumped.items()} == {u: before[u] + 1 for u in users}
        totals = await raw.fetch(
            "SELECT user_id, expired FROM rollups WHERE dim = 'all' AND mode = 'focus'"
        )
    assert sorted(r["expired"] for r in totals) == [100, 100, 100]
