"""Whose database it is: a device's history from before sync was configured is adopted by
the server user on the first sync; a database that is one user's is refused for another,
and left exactly as it was."""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from app.domain.errors import ConfigError
from tests.e2e.conftest import assert_one_line_error, make_focus
from tests.sync.conftest import Device, Devices, check_consistent, local_db, server_view

pytestmark = pytest.mark.postgres

TABLES = ("sessions", "ledger", "rollups", "streak_cache", "outbox", "sync_state", "meta")


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables sync touches, as a second process reads them."""
    with local_db(path) as db:
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


def meta(path: Path) -> dict[str, str]:
    with local_db(path) as db:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())


def user_ids(path: Path) -> dict[str, set[uuid.UUID]]:
    """The users the rows of each user table belong to."""
    with local_db(path) as db:
        return {
            t: {uuid.UUID(str(r[0])) for r in db.execute(f"SELECT DISTINCT user_id FROM {t}")}
            for t in ("sessions", "ledger", "rollups", "streak_cache", "outbox", "sync_state")
        }


async def test_a_device_adopts_its_offline_history_on_its_first_sync(
    laptop: Device, phone: Device, devices: Devices, pg_admin: str, user: dict[str, Any]
) -> None:
    # Weeks of use before sync was configured: the database has a user of its own.
    done = await laptop.session(25, 25, task="before sync", tags=("solo",))
    laptop.clock.advance(hours=20)
    gone = await laptop.session(25, 10, how="abandon", task="before sync")
    later = await laptop.session(25, 25, task="before sync")
    local_user = laptop.repo.identity.user_id
    server_user = uuid.UUID(user["user_id"])
    assert local_user != server_user
    before = meta(laptop.path)
    assert before["user_id"] == str(local_user) and "sync_user_id" not in before
    assert user_ids(laptop.path)["sessions"] == {local_user}
    stats = await laptop.service.stats()
    assert stats.streak.current == 2

    report = await laptop.sync()
    assert report.adopted and report.user == user["role"]
    assert report.pushed == 8 and report.rejected == []  # 3 starts, 3 ends, 2 awards

    after = meta(laptop.path)
    assert after["user_id"] == after["sync_user_id"] == str(server_user)
    assert after["sync_role"] == user["role"]
    assert after["client_id"] == before["client_id"], "the device stays the same device"
    assert user["role"] in after["sync_server"]
    for table, users in user_ids(laptop.path).items():
        assert users <= {server_user}, (table, users)
    assert laptop.repo.identity.user_id == server_user
    assert await laptop.service.stats() == stats, "adopting changes no number"
    await check_consistent(laptop)

    server = await server_view(pg_admin, user)
    assert set(server.sessions) == {done.id, gone.id, later.id}
    assert {uuid.UUID(bytes=r["user_id"].bytes) for r in server.sessions.values()} == {server_user}
    assert sorted(server.ledger) == sorted(f"focus_complete:{s.id}" for s in (done, later))

    # The next process that opens the file is the server's user from the start.
    laptop = await devices.reopen(laptop)
    assert laptop.repo.identity.user_id == server_user
    again = await laptop.sync()
    assert not again.adopted and again.pushed == 0

    # A second device with a history of its own adopts it the same way; both see both.
    mine = await phone.session(25, 25, task="the phone's own past")
    assert (await phone.sync()).adopted
    await laptop.sync()
    assert await laptop.view() == await phone.view()
    assert mine.id in await laptop.sessions()


async def test_a_database_of_one_user_is_refused_for_another_and_left_unchanged(
    laptop: Device, pg_admin: str, user: dict[str, Any], other_user: dict[str, Any]
) -> None:
    await laptop.session(25, 25, task="alice's")
    await laptop.sync()
    pending = await laptop.session(25, 25, task="alice's, not yet synced")
    rows = dump(laptop.path)

    with pytest.raises(ConfigError) as caught:
        await laptop.sync(url=other_user["sync_url"])
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert user["role"] in message and other_user["role"] in message, message
    assert user["user_id"] in message and other_user["user_id"] in message, message
    assert (await server_view(pg_admin, other_user)).sessions == {}
    assert pending.id not in (await server_view(pg_admin, user)).sessions
    assert await laptop.outbox() == 3
    after = dump(laptop.path)
    changed = {t: (rows[t], after[t]) for t in TABLES if after[t] != rows[t]}
    assert changed == {}, f"the refused sync changed the database (before, after): {changed}"

    # With its own user's URL it syncs as before.
    assert (await laptop.sync()).pushed == 3
    assert pending.id in (await server_view(pg_admin, user)).sessions


def checkpointed(path: Path) -> str:
    """The database file's bytes, with everything committed in it (the WAL folded in)."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_the_cli_refuses_another_users_url_with_exit_2_and_the_file_unchanged(
    laptop: Device,
    devices: Devices,
    pg_admin: str,
    user: dict[str, Any],
    other_user: dict[str, Any],
) -> None:
    await laptop.session(25, 25, task="alice's")
    await laptop.sync()
    await laptop.session(25, 25, task="alice's, not yet synced")
    path = laptop.path
    await devices.close(laptop)
    focus = make_focus(path.parent / "cli")
    focus.db = path
    before, rows = checkpointed(path), dump(path)

    proc = focus("sync", env={"FOCUS_SYNC_URL": other_user["sync_url"]})
    line = assert_one_line_error(proc, 2)
    assert user["role"] in line and other_user["role"] in line, line
    assert (await server_view(pg_admin, other_user)).sessions == {}
    after = dump(path)
    changed = {t: (rows[t], after[t]) for t in TABLES if after[t] != rows[t]}
    assert changed == {}, f"the refused sync changed the database (before, after): {changed}"
    assert checkpointed(path) == before, "the database file is not byte for byte the same"
