"""A sync that cannot happen fails in time, with one error, and loses nothing: a server that
is down, a port that never answers, tables locked past the statement timeout, a server
whose schema or setup is not this version's (one line naming the side to upgrade)."""

from __future__ import annotations

import time
from typing import Any

import asyncpg
import pytest

from app.domain.errors import FocusError, StorageError, UnavailableError
from storage.pg_connect import Timeouts
from storage.postgres import SERVER_SETUP
from storage.sync import read_state
from tests.e2e.test_cli_postgres import MARGIN, free_port
from tests.sync.conftest import BlackHole, Device, check_consistent, server_view

pytestmark = pytest.mark.postgres


def elsewhere(user: dict[str, Any], port: int) -> str:
    """The user's URL, pointed at 127.0.0.1:`port`."""
    from tests.e2e.test_cli_postgres import password_of

    return f"postgresql://{user['role']}:{password_of(user['sync_url'])}@127.0.0.1:{port}/focus"


async def failing_sync(
    device: Device, url: str | None, timeouts: Timeouts, error: type[FocusError]
) -> tuple[FocusError, float]:
    t0 = time.monotonic()
    with pytest.raises(error) as caught:
        await device.sync(url=url, timeouts=timeouts)
    return caught.value, time.monotonic() - t0


async def offline_work(device: Device) -> int:
    await device.session(25, 25, task="kept through the outage")
    await device.session(25, 10, how="abandon")
    return await device.outbox()


async def test_a_server_that_is_down_fails_at_once_and_loses_nothing(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    pending = await offline_work(laptop)
    error, elapsed = await failing_sync(
        laptop, elsewhere(user, free_port()), Timeouts(20, 20), UnavailableError
    )
    assert error.exit_code == 1
    assert str(error).startswith("cannot reach Postgres at 127.0.0.1:"), str(error)
    assert "\n" not in str(error)
    assert elapsed < 5, elapsed  # refused at once: nowhere near the 20 s connect timeout
    assert await laptop.outbox() == pending
    assert (await laptop.sync()).pushed == pending  # and the next sync sends it all
    assert len((await server_view(pg_admin, user)).sessions) == 2


async def test_a_port_that_never_answers_fails_within_the_connect_timeout(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    pending = await offline_work(laptop)
    async with BlackHole() as hole:
        error, elapsed = await failing_sync(
            laptop, elsewhere(user, hole.port), Timeouts(1, 1), UnavailableError
        )
        assert hole.accepted, "the sync did reach the silent port"
    assert error.exit_code == 1
    assert str(error) == (
        f"Postgres at 127.0.0.1:{hole.port} did not answer within 1 s (connect timeout)"
    )
    assert 1 <= elapsed < 1 + MARGIN, elapsed
    assert await laptop.outbox() == pending
    assert (await laptop.sync()).pushed == pending
    await check_consistent(laptop)


async def test_a_locked_server_fails_within_the_statement_timeout_and_loses_nothing(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    await laptop.sync()
    pending = await offline_work(laptop)
    holder = await asyncpg.connect(pg_admin)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("LOCK TABLE sessions, user_state IN ACCESS EXCLUSIVE MODE")
        error, elapsed = await failing_sync(laptop, None, Timeouts(5, 1), UnavailableError)
        await lock.rollback()
    finally:
        await holder.close()
    assert error.exit_code == 1
    assert "did not finish within 1 s (statement timeout)" in str(error), str(error)
    assert 1 <= elapsed < 1 + MARGIN, elapsed
    assert await laptop.outbox() == pending
    state = await read_state(laptop.repo)
    assert state.last_error == str(error)
    server = await server_view(pg_admin, user)
    assert server.sessions == {} and server.clients.get(laptop.repo.identity.client_id, 0) == 0

    report = await laptop.sync()
    assert report.pushed == pending and report.rejected == []
    assert (await read_state(laptop.repo)).last_error is None
    assert len((await server_view(pg_admin, user)).sessions) == 2


async def test_a_server_of_another_version_is_named_and_nothing_is_pushed(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    pending = await offline_work(laptop)
    local_user = laptop.repo.identity.user_id
    cases = [
        (
            f"UPDATE meta SET value = '{SERVER_SETUP - 1}' WHERE key = 'server_setup'",
            "set up by an older focus",
            "run `focus server init",
        ),
        (
            f"UPDATE meta SET value = '{SERVER_SETUP + 1}' WHERE key = 'server_setup'",
            "set up by a newer focus",
            "upgrade focus",
        ),
        (
            "UPDATE alembic_version SET version_num = '0002'",
            "has schema 0002, older than",
            "run `focus server init",
        ),
        (
            "UPDATE alembic_version SET version_num = '9999'",
            "has schema 9999, newer than",
            "upgrade focus",
        ),
    ]
    admin = await asyncpg.connect(pg_admin)
    try:
        setup = await admin.fetchval("SELECT value FROM meta WHERE key = 'server_setup'")
        revision = await admin.fetchval("SELECT version_num FROM alembic_version")
        for sql, what, upgrade in cases:
            await admin.execute(sql)
            try:
                error, _ = await failing_sync(laptop, None, Timeouts(5, 5), StorageError)
            finally:
                await admin.execute("UPDATE meta SET value = $1 WHERE key = 'server_setup'", setup)
                await admin.execute("UPDATE alembic_version SET version_num = $1", revision)
            message = str(error)
            assert what in message and upgrade in message, (sql, message)
            assert "\n" not in message and error.exit_code == 2
            assert await laptop.outbox() == pending, sql
            assert laptop.repo.identity.user_id == local_user, "not even adopted"
            assert (await server_view(pg_admin, user)).sessions == {}, sql
    finally:
        await admin.close()
    # Once the server is this version's again, everything goes through.
    assert (await laptop.sync()).pushed == pending
