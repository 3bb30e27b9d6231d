"""The server's own checks of what a client writes (`storage.server.CHECKS`, triggers that run
whatever client wrote the row): each bad shape of a session or an award is refused with a
check violation (SQLSTATE 23514) naming the rule, on INSERT and on UPDATE, through a client's
own login role; the good shapes next to them are taken."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from tests.server.support import attempt

pytestmark = pytest.mark.postgres

US = 1_000_000


@pytest.fixture(scope="module")
def checked(pg_server: str) -> Iterator[dict[str, Any]]:
    """One initialized database and one client for the whole module: every case writes rows
    of its own (fresh ids), so they cannot see each other."""
    from tests.pg import add_user, create_database, init_server

    async def make() -> dict[str, Any]:
        admin = await create_database(pg_server)
        await init_server(admin)
        return {"admin": admin} | await add_user(admin)

    yield asyncio.run(make())


@pytest.fixture
async def client(checked: dict[str, Any]) -> AsyncIterator[asyncpg.Connection]:
    raw = await asyncpg.connect(checked["sync_url"])
    try:
        yield raw
    finally:
        await raw.close()


def session_row(user_id: str, kind: str) -> dict[str, Any]:
    """A valid session of the user, open ('active') or finished ('completed', with the
    reward due for its 25 focused minutes), in the server's recent past."""
    now = datetime.now(UTC).replace(microsecond=0)
    started = now - timedelta(minutes=30)
    row: dict[str, Any] = {
        "user_id": uuid.UUID(user_id),
        "id": uuid.uuid4(),
        "client_id": uuid.uuid4(),
        "mode": "focus",
        "status": "active",
        "task_title": "checked",
        "tags": json.dumps(["a"]),
        "planned_seconds": 1800,
        "extended_us": 0,
        "started_at": started,
        "ends_at": started + timedelta(minutes=30),
        "paused_at": None,
        "paused_remaining_us": None,
        "pause_count": 0,
        "paused_us": 0,
        "slept_us": 0,
        "focused_us": 0,
        "completed_at": None,
        "abandoned_at": None,
        "expired_at": None,
        "abandon_reason": None,
        "xp_awarded": 0,
        "coins_awarded": 0,
        "version": 1,
        "created_at": started,
        "updated_at": started,
    }
    if kind == "completed":
        done = started + timedelta(minutes=25)
        row |= {
            "status": "completed",
            "completed_at": done,
            "updated_at": done,
            "focused_us": 25 * 60 * US,
            "xp_awarded": 25,
            "coins_awarded": 5,
            "version": 2,
        }
    return row


def insert(table: str, row: dict[str, Any]) -> tuple[str, list[Any]]:
    marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", list(row.values())


def update(table: str, row: dict[str, Any], key: tuple[str, ...]) -> tuple[str, list[Any]]:
    changed = [c for c in row if c not in key]
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(changed, 1))
    where = " AND ".join(f"{c} = ${i}" for i, c in enumerate(key, len(changed) + 1))
    return f"UPDATE {table} SET {sets} WHERE {where}", [row[c] for c in changed] + [
        row[c] for c in key
    ]


def later(row: dict[str, Any], **delta: float) -> datetime:
    value = row["started_at"]
    assert isinstance(value, datetime)
    return value + timedelta(**delta)


# (case, the valid row it starts from, the changes that make it bad, the rule refused)
SESSION_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("completed without its instant", "completed", {"completed_at": None}, "end instant alone"),
    ("two end instants", "completed", {"abandoned_at": "+25"}, "end instant alone"),
    (
        "expired without its instant",
        "completed",
        {"status": "expired", "xp_awarded": 0, "coins_awarded": 0},
        "end instant alone",
    ),
    ("active with an end instant", "active", {"abandoned_at": "+5"}, "open session has an end"),
    (
        "paused without its pause",
        "active",
        {"status": "paused", "ends_at": None, "paused_at": None, "paused_remaining_us": None},
        "lacks its pause",
    ),
    (
        "paused without the time left",
        "active",
        {"status": "paused", "ends_at": None, "paused_at": "+5"},
        "lacks its pause",
    ),
    ("active without its end time", "active", {"ends_at": None}, "has no end time"),
    ("planned over a day", "active", {"planned_seconds": 86401}, "amount out of range"),
    ("planned zero", "active", {"planned_seconds": 0}, ""),
    ("negative extension", "active", {"extended_us": -1}, "amount out of range"),
    ("extension over a week", "active", {"extended_us": 7 * 86400 * US + 1}, "amount out of"),
    ("negative pause total", "active", {"paused_us": -1}, "amount out of range"),
    ("negative sleep", "active", {"slept_us": -1}, "amount out of range"),
    ("negative focus", "active", {"focused_us": -1}, "amount out of range"),
    ("negative pause count", "active", {"pause_count": -1}, "amount out of range"),
    ("version zero", "active", {"version": 0}, "amount out of range"),
    (
        "negative time left",
        "active",
        {"status": "paused", "ends_at": None, "paused_at": "+5", "paused_remaining_us": -1},
        "amount out of range",
    ),
    (
        "more time left than planned",
        "active",
        {
            "status": "paused",
            "ends_at": None,
            "paused_at": "+5",
            "paused_remaining_us": 1800 * US + 1,
        },
        "amount out of range",
    ),
    (
        "more focus than it lasted",
        "completed",
        {"focused_us": 25 * 60 * US + 2 * US},
        "more focused time than the session lasted",
    ),
    (
        "an abandoned session paid",
        "completed",
        {"status": "abandoned", "completed_at": None, "abandoned_at": "+25"},
        "carries a reward",
    ),
    ("an open session paid", "active", {"xp_awarded": 5, "coins_awarded": 2}, "carries a reward"),
    ("more xp than due", "completed", {"xp_awarded": 26}, "not the one due"),
    ("more coins than due", "completed", {"coins_awarded": 6}, "not the one due"),
    ("a reward for too little focus", "completed", {"focused_us": 59 * US}, "not the one due"),
    (
        "started before 2000",
        "active",
        {"started_at": datetime(1999, 12, 31, tzinfo=UTC)},
        "instant",
    ),
    ("started in the future", "active", {"started_at": "+2880", "ends_at": "+2910"}, "instant"),
    ("ends before it started", "active", {"ends_at": "-1"}, "instant out of range"),
    (
        "completed before it started",
        "completed",
        # Half a second before: within the second the focus rule allows, so the instant's
        # own rule is the one that speaks.
        {"completed_at": "-0.008", "focused_us": 0, "xp_awarded": 0, "coins_awarded": 0},
        "instant out of range",
    ),
    (
        "paused before it started",
        "active",
        {"status": "paused", "ends_at": None, "paused_at": "-1", "paused_remaining_us": 60 * US},
        "instant out of range",
    ),
    ("a title too long", "active", {"task_title": "t" * 201}, "title or tags too long"),
    ("too many tags", "active", {"tags": json.dumps([str(n) for n in range(17)])}, "tags too long"),
    ("tags not a list", "active", {"tags": json.dumps({"a": 1})}, "title or tags too long"),
    # Two rules of `storage.sync.rules` (what every device checks of what it pulls) that
    # the server must make too, or it takes rows that no device will ever apply.
    ("a tag too long", "active", {"tags": json.dumps(["t" * 41])}, "tags too long"),
    ("updated before it was created", "active", {"updated_at": "-1"}, "session refused"),
]


def bad_session(user_id: str, base: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The valid row with the changes; "+N"/"-N" are minutes after/before its start."""
    row = session_row(user_id, base)
    for column, value in changes.items():
        if isinstance(value, str) and value[:1] in "+-" and value[1:].replace(".", "").isdigit():
            value = later(row, minutes=float(value))
        row[column] = value
    return row


@pytest.mark.parametrize(
    ("base", "changes", "rule"),
    [pytest.param(b, c, r, id=name) for name, b, c, r in SESSION_CASES],
)
@pytest.mark.parametrize("how", ["insert", "update"])
async def test_a_bad_session_is_refused(
    client: asyncpg.Connection,
    checked: dict[str, Any],
    how: str,
    base: str,
    changes: dict[str, Any],
    rule: str,
) -> None:
    row = bad_session(checked["user_id"], base, changes)
    if how == "update":
        # The row exists, valid and open; the update makes it bad.
        sql, args = insert(
            "sessions", session_row(checked["user_id"], "active") | {"id": row["id"]}
        )
        assert not (await attempt(client, sql, *args)).refused
        sql, args = update("sessions", row, ("user_id", "id"))
    else:
        sql, args = insert("sessions", row)
    outcome = await attempt(client, sql, *args)
    assert outcome.sqlstate == "23514", f"the server took a bad session: {outcome.shown()}"
    assert rule in outcome.message, outcome.message
    stored = await client.fetchval(
        "SELECT status FROM sessions WHERE user_id = $1 AND id = $2", row["user_id"], row["id"]
    )
    assert stored == (None if how == "insert" else "active")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(
            {
                "status": "active",
                "completed_at": None,
                "xp_awarded": 0,
                "coins_awarded": 0,
                "focused_us": 0,
                "ends_at": "+60",
            },
            id="reopened",
        ),
        pytest.param(
            {
                "status": "abandoned",
                "completed_at": None,
                "abandoned_at": "+25",
                "xp_awarded": 0,
                "coins_awarded": 0,
            },
            id="abandoned after completing",
        ),
        pytest.param({"xp_awarded": 0, "coins_awarded": 0}, id="reward taken back"),
        pytest.param(
            {"focused_us": 20 * 60 * US, "xp_awarded": 20, "coins_awarded": 4}, id="focus rewritten"
        ),
    ],
)
async def test_a_finished_session_stays_as_it_finished(
    client: asyncpg.Connection, checked: dict[str, Any], changes: dict[str, Any]
) -> None:
    done = session_row(checked["user_id"], "completed")
    assert not (await attempt(client, *_flat(insert("sessions", done)))).refused
    row = bad_session(checked["user_id"], "completed", changes) | {"id": done["id"]}
    outcome = await attempt(client, *_flat(update("sessions", row, ("user_id", "id"))))
    assert outcome.sqlstate == "23514", outcome.shown()
    assert "stays as it finished" in outcome.message
    # Another version of the same finished state (a title, a newer version) is taken.
    same = done | {"task_title": "renamed", "version": 3}
    assert not (await attempt(client, *_flat(update("sessions", same, ("user_id", "id"))))).refused


def _flat(statement: tuple[str, list[Any]]) -> list[Any]:
    sql, args = statement
    return [sql, *args]


async def test_the_good_shapes_are_taken(
    client: asyncpg.Connection, checked: dict[str, Any]
) -> None:
    """The valid rows the cases start from, an open session finished by an update, a
    completion that earned nothing, a paused session: all taken."""
    uid = checked["user_id"]
    open_row = session_row(uid, "active")
    for row in (open_row, session_row(uid, "completed")):
        assert not (await attempt(client, *_flat(insert("sessions", row)))).refused
    finished = session_row(uid, "completed") | {
        "id": open_row["id"],
        "client_id": open_row["client_id"],
    }
    assert not (
        await attempt(client, *_flat(update("sessions", finished, ("user_id", "id"))))
    ).refused
    unpaid = session_row(uid, "completed") | {"xp_awarded": 0, "coins_awarded": 0}
    paused = bad_session(
        uid,
        "active",
        {"status": "paused", "ends_at": None, "paused_at": "+5", "paused_remaining_us": 60 * US},
    )
    for row in (unpaid, paused):
        outcome = await attempt(client, *_flat(insert("sessions", row)))
        assert not outcome.refused, outcome.shown()


# -- awards ------------------------------------------------------------------------------------


async def a_session(
    client: asyncpg.Connection, user_id: str, kind: str, **changes: Any
) -> dict[str, Any]:
    row = session_row(user_id, kind) | changes
    outcome = await attempt(client, *_flat(insert("sessions", row)))
    assert not outcome.refused, outcome.shown()
    return row


def award(session: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "user_id": session["user_id"],
        "id": uuid.uuid4(),
        "idempotency_key": f"focus_complete:{session['id']}",
        "session_id": session["id"],
        "xp": session["xp_awarded"],
        "coins": session["coins_awarded"],
        "reason": "focus_complete",
        "created_at": session["completed_at"] or session["updated_at"],
    } | changes


LEDGER_CASES = [
    ("no such session", "completed", {}, {"session_id": "other"}),
    ("another reason", "completed", {}, {"reason": "short_break_complete"}),
    ("another session's key", "completed", {}, {"idempotency_key": "key of another"}),
    ("an open session", "active", {}, {"xp": 25, "coins": 5}),
    ("more than due", "completed", {}, {"xp": 26}),
    ("fewer coins than due", "completed", {}, {"coins": 4}),
    (
        "more than the session carries",
        "completed",
        {"xp_awarded": 0, "coins_awarded": 0},
        {"xp": 25, "coins": 5},
    ),
]


@pytest.mark.parametrize(
    ("kind", "session_changes", "changes"),
    [pytest.param(k, s, c, id=name) for name, k, s, c in LEDGER_CASES],
)
async def test_an_award_that_does_not_match_its_session_is_refused(
    client: asyncpg.Connection,
    checked: dict[str, Any],
    kind: str,
    session_changes: dict[str, Any],
    changes: dict[str, Any],
) -> None:
    session = await a_session(client, checked["user_id"], kind, **session_changes)
    if changes.get("session_id") == "other":
        changes = changes | {"session_id": uuid.uuid4()}
    if changes.get("idempotency_key") == "key of another":
        changes = changes | {"idempotency_key": f"focus_complete:{uuid.uuid4()}"}
    row = award(session, **changes)
    outcome = await attempt(client, *_flat(insert("ledger", row)))
    assert outcome.sqlstate == "23514", outcome.shown()
    assert "award refused" in outcome.message, outcome.message

    # The ledger is append-only for a client; the check holds for any writer's update too.
    good = award(session)
    if kind == "completed" and not session_changes:
        assert not (await attempt(client, *_flat(insert("ledger", good)))).refused
        changed = good | {k: v for k, v in changes.items() if k != "id"}
        statement = update("ledger", changed, ("user_id", "id"))
        denied = await attempt(client, *_flat(statement))
        assert denied.sqlstate == "42501", denied.shown()
        admin = await asyncpg.connect(checked["admin"])
        try:
            outcome = await attempt(admin, *_flat(statement))
        finally:
            await admin.close()
        assert outcome.sqlstate == "23514", outcome.shown()
        assert "award refused" in outcome.message


async def test_a_matching_award_is_taken(
    client: asyncpg.Connection, checked: dict[str, Any]
) -> None:
    session = await a_session(client, checked["user_id"], "completed")
    outcome = await attempt(client, *_flat(insert("ledger", award(session))))
    assert not outcome.refused, outcome.shown()
