"""A hostile (or broken) client writes straight into its own rows through its login role,
bypassing the engine: what breaks the server's checks is refused there; what passes them but
cannot be applied on another device is skipped and reported by that device's pull, and the
rest syncs."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from app.domain.models import Session, Status
from storage.codec import session_to_row
from tests.sync.conftest import Device, check_consistent, server_view

pytestmark = pytest.mark.postgres


@asynccontextmanager
async def as_client(user: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    """The user's own login, with no Focus code in between."""
    raw = await asyncpg.connect(user["sync_url"])
    try:
        yield raw
    finally:
        await raw.close()


def pg_row(session: Session) -> dict[str, Any]:
    row = session_to_row(session)
    row["tags"] = json.dumps(row["tags"])
    return row


async def insert_stamped(raw: asyncpg.Connection, session: Session) -> None:
    """Insert a session row the way a device's pull will find it: stamped with the user's
    change counter, bumped in the same transaction."""
    async with raw.transaction():
        stamp = await raw.fetchval(
            "UPDATE user_state SET change_stamp = change_stamp + 1 WHERE user_id = $1 "
            "RETURNING change_stamp",
            session.user_id,
        )
        row = pg_row(session) | {"change_stamp": stamp}
        names = ", ".join(row)
        marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
        await raw.execute(f"INSERT INTO sessions ({names}) VALUES ({marks})", *row.values())


async def refused(raw: asyncpg.Connection, sql: str, *args: Any) -> str:
    """Run `sql`, which the server must refuse with a check violation: its message."""
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        await raw.execute(sql, *args)
    assert caught.value.sqlstate == "23514"
    return str(caught.value)


async def test_rows_that_break_the_server_checks_are_refused_and_sync_goes_on(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    done = await laptop.session(25, 25, task="real work")
    short = await laptop.session(25, 0.5, task="too short to earn anything")
    assert short.status is Status.COMPLETED and short.xp_awarded == 0
    await laptop.sync()
    await phone.sync()
    before = await server_view(pg_admin, user)
    uid = uuid.UUID(user["user_id"])
    template = replace((await laptop.sessions())[done.id], id=uuid.uuid4(), version=1)

    async with as_client(user) as raw:
        insert = "INSERT INTO sessions ({}) VALUES ({})"

        async def insert_refused(session: Session) -> str:
            row = pg_row(session)
            marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
            return await refused(raw, insert.format(", ".join(row), marks), *row.values())

        # A completed session without its end instant.
        shape = await insert_refused(replace(template, completed_at=None))
        assert "needs its end instant alone" in shape
        # A completed session claiming a reward it did not earn.
        greedy = await insert_refused(replace(template, xp_awarded=999, coins_awarded=99))
        assert "not the one due" in greedy
        # The finished session reopened, or its reward raised.
        reopened = await refused(
            raw,
            "UPDATE sessions SET status = 'active', completed_at = NULL, xp_awarded = 0, "
            "coins_awarded = 0, version = version + 1 WHERE user_id = $1 AND id = $2",
            uid,
            done.id,
        )
        assert "stays as it finished" in reopened
        # An award that does not match its session: the wrong amount, another session's
        # key, an abandoned session, no session at all.
        award = (
            "INSERT INTO ledger (user_id, id, idempotency_key, session_id, xp, coins, reason, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, 'focus_complete', now())"
        )
        for key, session_id, xp, coins in (
            (f"focus_complete:{short.id}", short.id, 5, 2),  # more than it earned
            (f"focus_complete:{uuid.uuid4()}", short.id, 0, 0),  # another session's key
            (f"focus_complete:{uuid.uuid4()}", uuid.uuid4(), 5, 2),  # no such session
        ):
            message = await refused(raw, award, uid, uuid.uuid4(), key, session_id, xp, coins)
            assert "award refused" in message

    after = await server_view(pg_admin, user)
    assert after.sessions == before.sessions and after.ledger == before.ledger

    # Nothing of it reaches a device, and the devices go on syncing.
    more = await phone.session(25, 25, task="after the attack")
    for device in (phone, laptop):
        report = await device.sync()
        assert report.rejected == [] and report.skipped == []
    assert await laptop.view() == await phone.view()
    assert set(await laptop.sessions()) == {done.id, short.id, more.id}
    for device in (laptop, phone):
        await check_consistent(device)


async def test_a_row_the_server_takes_but_a_device_refuses_is_skipped_and_reported(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    """A session started three days after the phone's clock: the server (whose clock is
    later still) takes it, the phone's pull refuses it (a start more than a day ahead of its
    own clock), skips it, names it, and takes the rest; the phone's own changes are pushed
    as usual, and the next sync does not report it again."""
    await laptop.session(25, 25, task="before")
    await laptop.sync()
    lap = await laptop.session(25, 25, task="laptop, after")
    await laptop.sync()
    mine = await phone.session(25, 25, task="phone's")
    ahead = timedelta(days=3)
    odd = replace(
        lap,
        id=uuid.uuid4(),
        user_id=uuid.UUID(user["user_id"]),
        **{
            name: getattr(lap, name) + ahead
            for name in ("started_at", "ends_at", "completed_at", "created_at", "updated_at")
        },
    )
    async with as_client(user) as raw:
        await insert_stamped(raw, odd)

    report = await phone.sync()
    assert len(report.skipped) == 1, report.skipped
    assert report.skipped[0].startswith(f"session {odd.id}: start "), report.skipped
    assert "out of range" in report.skipped[0]
    assert report.rejected == [] and report.pending == 0
    here = await phone.sessions()
    assert odd.id not in here and lap.id in here
    assert mine.id in (await server_view(pg_admin, user)).sessions
    await check_consistent(phone)
    assert (await phone.sync()).skipped == []  # reported once: the cursor moved past it
    on_laptop = await laptop.sync()
    assert [line.split(":")[0] for line in on_laptop.skipped] == [f"session {odd.id}"]
    assert await laptop.view() == await phone.view()


async def test_an_impostor_of_a_devices_open_session_is_skipped_and_the_rest_syncs(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    """An open session carrying the phone's own client id, written while the phone (offline)
    has an open session of its own: the server takes it (its one-open-session rule is per
    device, and that device's session is not there yet). The phone's pull cannot store it
    beside its own open session: skipped and reported, and everything else syncs."""
    await laptop.session(25, 25, task="before")
    await laptop.sync()
    await phone.sync()  # the phone is the user's now: its client id is known
    clock = laptop.clock
    lap = await laptop.session(25, 25, task="laptop, after")
    await laptop.sync()
    phone_done = await phone.session(25, 25, task="phone, done")
    own = await phone.service.start(minutes=50, task="phone's own open session")
    clock.advance(minutes=5)
    impostor = replace(
        own,
        id=uuid.uuid4(),
        user_id=uuid.UUID(user["user_id"]),
        task_title="impostor",
        started_at=clock.now() - timedelta(minutes=1),
        ends_at=clock.now() + timedelta(minutes=24),
    )
    assert impostor.status is Status.ACTIVE
    assert impostor.client_id == phone.repo.identity.client_id
    async with as_client(user) as raw:
        await insert_stamped(raw, impostor)

    report = await phone.sync()
    assert [line.split(":")[0] for line in report.skipped] == [f"session {impostor.id}"]
    here = await phone.sessions()
    assert impostor.id not in here
    assert lap.id in here, "the rest of the pull was applied"
    assert here[own.id].status is Status.ACTIVE and here[own.id].task_title == own.task_title
    assert await phone.service.status() == here[own.id], "the phone's own session is untouched"

    # Everything else the phone did reached the server: the completed session and its award.
    # Its own open session cannot be stored beside the impostor: it is either there or
    # rejected with the server's reason, never silently dropped.
    server = await server_view(pg_admin, user)
    assert server.sessions[phone_done.id]["status"] == "completed"
    refused = [(r.mutation_id, r.entity, r.entity_id, r.reason) for r in report.rejected]
    assert [r[2] for r in refused if r[2] != own.id] == [], (
        f"changes other than the open session's were rejected: {refused}"
    )
    assert f"focus_complete:{phone_done.id}" in server.ledger, (
        f"the award of the phone's completed session is missing; rejected: {refused}"
    )
    assert own.id in server.sessions or [r[2] for r in refused] == [own.id]
    await check_consistent(phone)
