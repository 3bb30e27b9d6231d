"""Push: exactly-once effects (a batch re-sent after a crash changes nothing, a gap is
refused), coalescing (one row per entity with its final state), permanent rejections
(recorded with their reason, never blocking what follows)."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from typing import Any

import pytest

from app.domain.errors import RefusedError
from storage.pg_connect import Timeouts, parse_url
from storage.postgres import open_conn
from storage.sync import rejections
from storage.sync.device import read_outbox
from storage.sync.push import GapError, push_batch
from storage.sync.server import Link
from tests.e2e.conftest import assert_one_line_error, make_focus
from tests.sync.conftest import Device, Devices, as_uuid, check_consistent, local_db, server_view

pytestmark = pytest.mark.postgres


def outbox_rows(device: Device) -> list[tuple[int, str, uuid.UUID, dict[str, Any]]]:
    """The device's outbox as a second process reads it: (mutation_id, entity, entity_id,
    payload), oldest first."""
    with local_db(device.path) as db:
        rows = db.execute(
            "SELECT mutation_id, entity, entity_id, payload FROM outbox ORDER BY mutation_id"
        ).fetchall()
    return [(m, e, uuid.UUID(str(i)), json.loads(p)) for m, e, i, p in rows]


def edit_payload(device: Device, mutation_id: int, **values: Any) -> None:
    """Change one outbox row's payload behind the app's back (a bug, a bad disk, a hand)."""
    with local_db(device.path) as db:
        (payload,) = db.execute(
            "SELECT payload FROM outbox WHERE mutation_id = ?", (mutation_id,)
        ).fetchone()
        db.execute(
            "UPDATE outbox SET payload = ? WHERE mutation_id = ?",
            (json.dumps(json.loads(payload) | values), mutation_id),
        )


async def test_a_batch_resent_after_a_crash_changes_nothing(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    await laptop.session(25, 25, task="before")
    await laptop.sync()  # the database is the user's now
    for n in range(3):
        await laptop.session(25, 25 - n, task=f"offline {n}")
    await laptop.session(25, 5, how="abandon")
    pending = await read_outbox(laptop.repo.conn, 1000)
    assert len(pending) >= 8

    # The server commits the batch; the device crashes before it deletes its outbox rows.
    conn = await open_conn(parse_url(user["sync_url"]), Timeouts())
    try:
        through, rejected, written = await push_batch(
            Link(conn), laptop.repo, pending, laptop.clock.now()
        )
    finally:
        await conn.close()
    assert (through, rejected) == (pending[-1].mutation_id, [])
    assert written > 0
    committed = await server_view(pg_admin, user)
    assert committed.clients[laptop.repo.identity.client_id] == through
    assert await laptop.outbox() == len(pending), "the crash left every row in the outbox"

    # Back up: the next sync re-sends the batch; the server acknowledges it, changes nothing.
    report = await laptop.sync()
    assert report.pushed == len(pending) and report.rejected == [] and report.pending == 0
    assert await laptop.outbox() == 0
    after = await server_view(pg_admin, user)
    assert after.counts() == committed.counts()
    assert after.sessions == committed.sessions and after.ledger == committed.ledger
    assert after.clients == committed.clients
    await check_consistent(laptop)
    assert set(await laptop.sessions()) == set(after.sessions)


async def test_a_crash_after_part_of_the_outbox_resends_only_the_rest(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    """The server has the first half; the re-sent whole applies the second half only."""
    await laptop.sync()
    for n in range(4):
        await laptop.session(25, 25, task=f"s{n}")
    pending = await read_outbox(laptop.repo.conn, 1000)
    half = pending[: len(pending) // 2]
    conn = await open_conn(parse_url(user["sync_url"]), Timeouts())
    try:
        await push_batch(Link(conn), laptop.repo, half, laptop.clock.now())
    finally:
        await conn.close()
    first = await server_view(pg_admin, user)
    report = await laptop.sync()
    assert report.pushed == len(pending) and report.rejected == []
    after = await server_view(pg_admin, user)
    assert len(after.sessions) == 4 and len(after.ledger) == 4
    assert all(row["status"] == "completed" for row in after.sessions.values())
    for sid, row in first.sessions.items():  # what the first half wrote stayed as it was
        if row["status"] == "completed":
            assert after.sessions[sid] == row
    assert after.clients[laptop.repo.identity.client_id] == pending[-1].mutation_id
    await check_consistent(laptop)


async def test_a_gap_in_mutation_ids_is_refused_and_nothing_is_applied(
    laptop: Device, devices: Devices, pg_admin: str, user: dict[str, Any]
) -> None:
    await laptop.session(25, 25, task="one")
    await laptop.session(25, 25, task="two")
    rows = outbox_rows(laptop)
    with local_db(laptop.path) as db:  # the first change is lost before any sync
        db.execute("DELETE FROM outbox WHERE mutation_id = ?", (rows[0][0],))

    with pytest.raises(RefusedError) as caught:
        await laptop.sync()
    assert isinstance(caught.value, GapError)
    assert caught.value.exit_code == 1
    message = str(caught.value)
    assert f"up to 0, and the next one here is {rows[1][0]}" in message, message
    server = await server_view(pg_admin, user)
    assert server.sessions == {} and server.ledger == {} and server.rejections == []
    assert server.clients.get(laptop.repo.identity.client_id, 0) == 0
    assert [r[0] for r in outbox_rows(laptop)] == [r[0] for r in rows[1:]], "nothing lost"

    # It stays refused: a gap is not transient, and a retry does not paper over it. The
    # installed CLI says so in one line, with exit 1.
    await devices.close(laptop)
    focus = make_focus(laptop.path.parent / "cli")
    focus.db = laptop.path
    proc = focus("sync", env={"FOCUS_SYNC_URL": user["sync_url"]})
    line = assert_one_line_error(proc, 1)
    assert f"the next one here is {rows[1][0]}" in line, line
    assert (await server_view(pg_admin, user)).sessions == {}
    assert [r[0] for r in outbox_rows(laptop)] == [r[0] for r in rows[1:]]


async def test_a_session_changed_many_times_offline_is_one_row_with_its_final_state(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    """Started, paused, resumed, extended and completed offline: five changes of one session
    in one batch become one upsert (Postgres refuses to touch a row twice in a statement)."""
    s = await laptop.service.start(minutes=25, task="one of many")
    laptop.clock.advance(minutes=5)
    await laptop.service.pause()
    laptop.clock.advance(minutes=3)
    await laptop.service.resume()
    await laptop.service.extend(5)
    laptop.clock.advance(minutes=25)
    done = (await laptop.service.complete()).session
    rows = outbox_rows(laptop)
    assert sum(e == "session" and i == s.id for _, e, i, _ in rows) == 5
    assert sum(e == "ledger" for _, e, _, _ in rows) == 1

    report = await laptop.sync()
    assert report.pushed == len(rows) and report.rejected == [] and report.batches == 1
    server = await server_view(pg_admin, user)
    assert list(server.sessions) == [s.id]
    row = server.sessions[s.id]
    assert (row["status"], row["version"], row["pause_count"]) == ("completed", done.version, 1)
    assert row["completed_at"] == done.completed_at and row["extended_us"] == 300_000_000
    assert (row["xp_awarded"], row["coins_awarded"]) == (done.xp_awarded, done.coins_awarded)
    assert as_uuid(row["changed_by"]) == laptop.repo.identity.client_id
    assert [k for k in server.ledger] == [f"focus_complete:{s.id}"]
    adopted = replace(done, user_id=uuid.UUID(user["user_id"]))  # the server's user now
    assert (await laptop.sessions())[s.id] == adopted


async def test_a_permanently_invalid_change_is_rejected_with_its_reason_and_blocks_nothing(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    await laptop.sync()
    bad = await laptop.session(25, 10, how="abandon", task="bad")
    good = await laptop.session(25, 25, task="good after the bad one")
    bad_changes = [m for m, _, i, _ in outbox_rows(laptop) if i == bad.id]
    assert len(bad_changes) == 2  # started, abandoned: the batch sends the latest state
    for m in bad_changes:
        edit_payload(laptop, m, planned_seconds=-60)
    bad_change = bad_changes[-1]
    # And an award for the wrong amount: the session itself is fine.
    paid = await laptop.session(25, 25, task="paid wrongly")
    (award,) = [
        m for m, e, _, p in outbox_rows(laptop) if e == "ledger" and p["session_id"] == str(paid.id)
    ]
    edit_payload(laptop, award, xp=999)
    later = await laptop.session(50, 50, task="later still")
    outbox_last = outbox_rows(laptop)[-1][0]

    report = await laptop.sync(batch_size=3)
    assert report.pending == 0 and await laptop.outbox() == 0
    reasons = {r.mutation_id: (r.entity, r.entity_id, r.reason) for r in report.rejected}
    assert sorted(reasons) == [bad_change, award], report.rejected
    assert reasons[bad_change][:2] == ("session", bad.id)
    assert "planned" in reasons[bad_change][2] and "out of range" in reasons[bad_change][2]
    assert reasons[award][0] == "ledger"
    assert "999 xp" in reasons[award][2] and "not the 25" in reasons[award][2]

    server = await server_view(pg_admin, user)
    assert bad.id not in server.sessions
    for s in (good, paid, later):
        assert server.sessions[s.id]["status"] == "completed", "later changes still applied"
    assert f"focus_complete:{good.id}" in server.ledger
    assert f"focus_complete:{later.id}" in server.ledger
    assert f"focus_complete:{paid.id}" not in server.ledger
    on_server = {r["mutation_id"]: r for r in server.rejections}
    assert sorted(on_server) == sorted(reasons)
    for m, (entity, entity_id, reason) in reasons.items():
        row = on_server[m]
        assert (row["entity"], as_uuid(row["entity_id"]), row["reason"]) == (
            entity,
            entity_id,
            reason,
        )
        assert as_uuid(row["client_id"]) == laptop.repo.identity.client_id
    kept = await rejections(laptop.repo)
    assert {(r.mutation_id, r.entity, r.entity_id, r.reason) for r in kept} == {
        (m, *v) for m, v in reasons.items()
    }
    assert server.clients[laptop.repo.identity.client_id] == outbox_last

    # The next change syncs as usual; the rejected ones are not sent again.
    more = await laptop.session(25, 25, task="next day")
    again = await laptop.sync()
    assert again.rejected == [] and again.pushed > 0
    assert more.id in (await server_view(pg_admin, user)).sessions
    assert len(await rejections(laptop.repo)) == 2

    # Another device of the user never sees the refused changes.
    await phone.sync()
    on_phone = await phone.sessions()
    assert bad.id not in on_phone and later.id in on_phone
    assert on_phone[paid.id].xp_awarded == paid.xp_awarded


async def test_an_unreadable_outbox_row_is_rejected_by_name(
    laptop: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    await laptop.sync()
    s = await laptop.session(25, 10, how="abandon", task="garbled")
    after = await laptop.session(25, 25, task="fine")
    first = outbox_rows(laptop)[0][0]
    with local_db(laptop.path) as db:
        db.execute("UPDATE outbox SET payload = 'not json {' WHERE mutation_id = ?", (first,))
    report = await laptop.sync()
    assert [r.mutation_id for r in report.rejected] == [first]
    assert "malformed" in report.rejected[0].reason
    server = await server_view(pg_admin, user)
    assert server.sessions[s.id]["status"] == "abandoned"  # its later change went through
    assert server.sessions[after.id]["status"] == "completed"


async def test_an_award_and_its_completion_in_different_batches_are_both_applied(
    laptop: Device, phone: Device, pg_admin: str, user: dict[str, Any]
) -> None:
    """A batch boundary may fall anywhere in the outbox: between a session's completion and
    its award too. Both must land, whichever comes first, and the xp with them."""
    await laptop.sync()
    done = []
    for batch_size in (1, 2):
        done.append(await laptop.session(25, 25, task=f"batches of {batch_size}"))
        changes = outbox_rows(laptop)
        report = await laptop.sync(batch_size=batch_size)
        assert report.pushed == len(changes) and report.batches == -(-len(changes) // batch_size)
        assert report.rejected == [], (
            f"batches of {batch_size}: outbox order {[e for _, e, _, _ in changes]}; "
            f"refused: {[(r.mutation_id, r.entity, r.reason) for r in report.rejected]}"
        )
    server = await server_view(pg_admin, user)
    assert sorted(server.ledger) == sorted(f"focus_complete:{s.id}" for s in done)
    assert sum(r["xp"] for r in server.ledger.values()) == await laptop.repo.total_xp() > 0
    await phone.sync()
    assert await phone.repo.total_xp() == await laptop.repo.total_xp()
    assert await phone.view() == await laptop.view()
