"""Hostile and malformed rows written straight into Postgres through a user's own login (a
modified or older client holds a real login: what it writes is untrusted).

1. The server refuses, whatever the statement (INSERT, or an UPDATE of a good row), rows no
   honest client writes, in every table a client may write: a status or mode outside the
   enum, absurd durations, an award that is not its session's, instants out of order or
   out of range, and for libraries, tracks and deletions (checked since server setup 5):
   names and titles that are not clean, unknown kinds, types and upload states, a missing
   content hash, negative sizes, durations, counts and versions; and a change counter set
   back. The same rows, made good, are taken (the checks refuse nothing honest).
2. What the server does take but a device cannot parse or store (tags that are not a list
   of strings, a name or title that is blank or not clean by the device's own rules) is
   skipped and reported by that device's pull, once; the rest of the pull is applied and
   the device's own changes are pushed as usual.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from storage import track_store
from tests.sync.conftest import Device, Devices, check_consistent, devices

__all__ = ["devices"]  # the sync tests' fixture, here too

pytestmark = pytest.mark.postgres

US = 1_000_000
HASH = "ab" * 32


@pytest.fixture
async def client(sync_user: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    raw = await asyncpg.connect(sync_user["sync_url"])
    try:
        yield raw
    finally:
        await raw.close()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def session_row(user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    """A good completed focus session of 25 minutes, ended five minutes ago."""
    start = now() - timedelta(minutes=30)
    end = start + timedelta(minutes=25)
    return {
        "user_id": user_id,
        "id": uuid.uuid4(),
        "client_id": uuid.uuid4(),
        "mode": "focus",
        "status": "completed",
        "task_title": "write",
        "tags": json.dumps(["deep"]),
        "planned_seconds": 1500,
        "extended_us": 0,
        "started_at": start,
        "ends_at": end,
        "focused_us": 1500 * US,
        "completed_at": end,
        "xp_awarded": 25,
        "coins_awarded": 5,
        "version": 3,
        "created_at": start,
        "updated_at": end,
    } | changes


def library_row(user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    t = now() - timedelta(hours=1)
    return {
        "user_id": user_id,
        "id": uuid.uuid4(),
        "name": f"Rain {uuid.uuid4().hex[:6]}",
        "description": "",
        "library_type": "ambient",
        "is_favorite": False,
        "tracks_count": 0,
        "version": 1,
        "created_at": t,
        "updated_at": t,
    } | changes


def track_row(user_id: uuid.UUID, library_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    t = now() - timedelta(minutes=50)
    return {
        "user_id": user_id,
        "id": uuid.uuid4(),
        "library_id": library_id,
        "title": "Storm",
        "size_bytes": 1234,
        "sha256": HASH,
        "content_type": "audio/flac",
        "duration_seconds": 60,
        "upload_state": "pending",
        "version": 1,
        "added_at": t,
        "updated_at": t,
    } | changes


def deletion_row(user_id: uuid.UUID, **changes: Any) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "entity": "track",
        "entity_id": uuid.uuid4(),
        "deleted_at": now() - timedelta(minutes=1),
    } | changes


REFUSALS = (asyncpg.IntegrityConstraintViolationError, asyncpg.StringDataRightTruncationError)
KEYS = {
    "sessions": ("user_id", "id"),
    "libraries": ("user_id", "id"),
    "tracks": ("user_id", "id"),
    "deletions": ("user_id", "entity", "entity_id"),
}


async def insert(raw: asyncpg.Connection, table: str, row: dict[str, Any]) -> None:
    names = ", ".join(row)
    marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    await raw.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", *row.values())


async def update(
    raw: asyncpg.Connection, table: str, row: dict[str, Any], changes: dict[str, Any]
) -> None:
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changes, 1))
    key = KEYS[table]
    where = " AND ".join(f"{c} = ${len(changes) + i}" for i, c in enumerate(key, 1))
    await raw.execute(
        f"UPDATE {table} SET {sets} WHERE {where}", *changes.values(), *(row[c] for c in key)
    )


# (table, case, changes that make a good row bad, words of the refusal)
LATER = timedelta(days=400)
CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # (paying what the triggers' rules would make of them: the enum's own check speaks)
    (
        "sessions",
        "a mode outside the enum",
        {"mode": "sprint", "xp_awarded": 3, "coins_awarded": 1},
        "mode",
    ),
    (
        "sessions",
        "a status outside the enum",
        {"status": "won", "xp_awarded": 0, "coins_awarded": 0},
        "status",
    ),
    ("sessions", "an absurd duration", {"planned_seconds": 10**8}, "out of range"),
    ("sessions", "a negative duration", {"planned_seconds": -1500}, ""),
    ("sessions", "negative focus", {"focused_us": -1, "xp_awarded": 0, "coins_awarded": 0}, ""),
    ("sessions", "a reward not its due", {"xp_awarded": 10**6}, "not the one due"),
    ("sessions", "ended before it began", {"completed_at": now() - LATER}, "session refused"),
    ("sessions", "began in the far future", {"started_at": now() + LATER}, "session refused"),
    ("libraries", "an empty name", {"name": ""}, "not clean"),
    ("libraries", "a name with a control character", {"name": "Rain\x07"}, "not clean"),
    ("libraries", "a name with stray spaces", {"name": " Rain  x "}, "not clean"),
    ("libraries", "a name too long", {"name": "n" * 121}, "too long"),
    ("libraries", "a name with a line break", {"name": "n" * 119 + "\n"}, "not clean"),
    ("libraries", "an unknown type", {"library_type": "rock"}, "unknown library type"),
    ("libraries", "a description too long", {"description": "d" * 1001}, "too long"),
    ("libraries", "version zero", {"version": 0}, "out of range"),
    ("libraries", "a negative track count", {"tracks_count": -3}, "out of range"),
    ("libraries", "updated before created", {"created_at": now()}, "instant"),
    ("libraries", "made in 1990", {"created_at": datetime(1990, 1, 1, tzinfo=UTC)}, "instant"),
    ("libraries", "made next year", {"created_at": now() + LATER, "updated_at": now() + LATER}, ""),
    ("tracks", "an empty title", {"title": "   "}, "title"),
    ("tracks", "a title too long", {"title": "t" * 201}, "title"),
    ("tracks", "a title with a control character", {"title": "Storm\x1b[2J"}, "title"),
    ("tracks", "no content hash", {"sha256": None}, "content hash"),
    ("tracks", "a content hash that is not one", {"sha256": "zz" * 32}, "content hash"),
    ("tracks", "an upper-case hash", {"sha256": HASH.upper()}, "content hash"),
    ("tracks", "an unknown upload state", {"upload_state": "stolen"}, "upload state"),
    ("tracks", "a negative size", {"size_bytes": -1}, "out of range"),
    ("tracks", "a negative duration", {"duration_seconds": -60}, "out of range"),
    ("tracks", "version zero", {"version": 0}, "out of range"),
    ("tracks", "added in 1990", {"added_at": datetime(1990, 1, 1, tzinfo=UTC)}, "instant"),
    ("deletions", "a deletion of a session", {"entity": "session"}, "unknown kind"),
    ("deletions", "a deletion of a user", {"entity": "user"}, "unknown kind"),
    ("deletions", "deleted in 1970", {"deleted_at": datetime(1970, 1, 1, tzinfo=UTC)}, "instant"),
    ("deletions", "deleted next month", {"deleted_at": now() + timedelta(days=30)}, "instant"),
]


async def good_row(raw: asyncpg.Connection, table: str, user_id: uuid.UUID) -> dict[str, Any]:
    if table == "sessions":
        return session_row(user_id)
    if table == "libraries":
        return library_row(user_id)
    if table == "deletions":
        return deletion_row(user_id)
    library = library_row(user_id)
    await insert(raw, "libraries", library)
    return track_row(user_id, library["id"])


@pytest.mark.parametrize(
    ("table", "changes", "words"), [pytest.param(t, c, w, id=f"{t}: {n}") for t, n, c, w in CASES]
)
async def test_the_server_refuses_a_row_no_honest_client_writes(
    client: asyncpg.Connection,
    sync_user: dict[str, Any],
    table: str,
    changes: dict[str, Any],
    words: str,
) -> None:
    user_id = uuid.UUID(sync_user["user_id"])
    good = await good_row(client, table, user_id)
    bad = good | changes
    with pytest.raises(REFUSALS) as inserted:
        await insert(client, table, bad)
    assert inserted.value.sqlstate in ("23514", "23502", "22001"), inserted.value
    assert words in str(inserted.value), str(inserted.value)
    # The good row is taken; made bad by an update, it is refused too (a finished session
    # may be refused first for changing at all) and stays good.
    await insert(client, table, good)
    key_change = any(c in KEYS[table] for c in changes)
    if not key_change:
        with pytest.raises(REFUSALS) as updated:
            await update(client, table, good, changes)
        assert updated.value.sqlstate in ("23514", "23502", "22001"), updated.value
    where = " AND ".join(f"{c} = ${i}" for i, c in enumerate(KEYS[table], 1))
    stored = await client.fetchrow(
        f"SELECT * FROM {table} WHERE {where}", *(good[c] for c in KEYS[table])
    )
    assert stored is not None
    assert all(stored[c] == good[c] for c in good if c not in ("tags",)), dict(stored)


async def test_an_award_that_is_not_its_sessions_is_refused_and_the_counter_never_goes_back(
    client: asyncpg.Connection, sync_user: dict[str, Any]
) -> None:
    user_id = uuid.UUID(sync_user["user_id"])
    session = session_row(user_id)
    await insert(client, "sessions", session)
    award = {
        "user_id": user_id,
        "id": uuid.uuid4(),
        "idempotency_key": f"focus_complete:{session['id']}",
        "session_id": session["id"],
        "xp": 25,
        "coins": 5,
        "reason": "focus_complete",
        "created_at": session["completed_at"],
    }
    for changes in ({"xp": 250}, {"coins": 6}, {"xp": 0, "coins": 0}, {"session_id": uuid.uuid4()}):
        with pytest.raises(asyncpg.CheckViolationError, match="award refused"):
            await insert(client, "ledger", award | changes)
    await insert(client, "ledger", award)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # append-only for a client
        await client.execute("UPDATE ledger SET xp = 1000 WHERE user_id = $1", user_id)

    stamp = await client.fetchval("SELECT change_stamp FROM user_state")
    await client.execute("UPDATE user_state SET change_stamp = change_stamp + 5")
    for back in (0, stamp, -1):
        with pytest.raises(asyncpg.CheckViolationError, match="never goes back"):
            await client.execute("UPDATE user_state SET change_stamp = $1", back)
    assert await client.fetchval("SELECT change_stamp FROM user_state") == stamp + 5


# -- what the server takes and a device cannot use ------------------------------------------


async def stamped(raw: asyncpg.Connection, table: str, row: dict[str, Any]) -> None:
    """Insert `row` as a device's pull will find it: stamped with the bumped counter."""
    async with raw.transaction():
        stamp = await raw.fetchval(
            "UPDATE user_state SET change_stamp = change_stamp + 1 RETURNING change_stamp"
        )
        await insert(raw, table, row | {"change_stamp": stamp})


@pytest.fixture
async def pair(devices: Devices, sync_user: dict[str, Any]) -> tuple[Device, Device]:
    laptop = await devices.open("laptop", sync_user)
    phone = await devices.open("phone", sync_user)
    return laptop, phone


async def test_rows_a_device_cannot_use_are_skipped_and_reported_and_the_rest_syncs(
    pair: tuple[Device, Device], client: asyncpg.Connection, sync_user: dict[str, Any]
) -> None:
    laptop, phone = pair
    user_id = uuid.UUID(sync_user["user_id"])
    clock = laptop.clock
    clock.set(now() - timedelta(hours=3))
    before = await laptop.session(25, 25, task="before")
    await laptop.sync()

    # Planted by a modified client, between the laptop's honest rows.
    odd_tags = [[1, 2], [["nested"]], [{"a": "b"}], [None], {"not": "a list"}]
    bad_sessions = []
    for tags in odd_tags:
        row = session_row(user_id, tags=json.dumps(tags))
        try:
            await stamped(client, "sessions", row)
        except asyncpg.CheckViolationError:
            continue  # the server refused it: nothing for a device to skip
        bad_sessions.append(row["id"])
    # Spaces to Python (the device's rules) that the server's text functions keep.
    library = library_row(user_id)
    await stamped(client, "libraries", library)
    odd_library = library_row(user_id, name="\u00a0Rain at night")
    odd_track = track_row(user_id, library["id"], title="\u2003")
    odd_ids = set()
    for table, row in (("libraries", odd_library), ("tracks", odd_track)):
        try:
            await stamped(client, table, row)
        except asyncpg.CheckViolationError:
            continue
        odd_ids.add(row["id"])
    good_track = track_row(user_id, library["id"])
    await stamped(client, "tracks", good_track)
    assert len(bad_sessions) >= 3 and len(odd_ids) == 2, (bad_sessions, odd_ids)

    after = await laptop.session(25, 25, task="after")
    await laptop.sync()
    mine = await phone.session(25, 25, task="phone's own")

    report = await phone.sync()
    skipped = {line.split(":")[0] for line in report.skipped}
    expected = {f"session {i}" for i in bad_sessions}
    expected |= {f"library {odd_library['id']}", f"track {odd_track['id']}"} & (
        {f"library {i}" for i in odd_ids} | {f"track {i}" for i in odd_ids}
    )
    assert skipped == expected, report.skipped
    assert all(len(line.splitlines()) == 1 for line in report.skipped)
    assert report.rejected == [] and report.pending == 0
    here = await phone.sessions()
    assert {before.id, after.id, mine.id} <= set(here)
    assert not set(bad_sessions) & set(here)
    libraries = {lib.id for lib in await track_store.libraries(phone.repo.conn, user_id)}
    assert library["id"] in libraries and odd_library["id"] not in libraries
    tracks = {t.id for t in await track_store.tracks(phone.repo.conn, user_id, None)}
    assert good_track["id"] in tracks and odd_track["id"] not in tracks
    await check_consistent(phone)

    # Reported once: the cursor moved past them; the next sync is clean and in step.
    again = await phone.sync()
    assert again.skipped == [] and again.pending == 0
    assert (await laptop.sync()).pending == 0
    assert await laptop.view() == await phone.view()
    raw_mine = await client.fetchval("SELECT status FROM sessions WHERE id = $1", mine.id)
    assert raw_mine == "completed"
