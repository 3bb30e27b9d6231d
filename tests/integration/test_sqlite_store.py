"""The SQLite store on real files: one transaction per action, the outbox, the open-session
index, concurrent writers, keyset history, per-user counts and files it must not touch."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import RefusedError, StorageError
from app.domain.models import LedgerEntry, Mode, Session, Status
from app.services import FocusService, encode_cursor
from storage.codec import session_to_row, sqlite_instant, sqlite_row, to_payload
from storage.local import open_repository
from storage.migrations import HEAD
from storage.repository import Cursor, Identity
from storage.schema import sessions
from storage.sql import SqlRepository, SqlTransaction

# -- helpers ---------------------------------------------------------------------------


def query(path: Path, sql: str, *params: Any) -> list[sqlite3.Row]:
    """Read the file through a separate plain sqlite3 connection (what another process sees)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def outbox_rows(path: Path) -> list[sqlite3.Row]:
    return query(path, "SELECT * FROM outbox ORDER BY mutation_id")


def fingerprint(path: Path) -> tuple[bytes, int, int]:
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_size


class Statements:
    """Every SQL statement the store sends SQLite (BEGIN, COMMIT, ROLLBACK too), in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def clear(self) -> None:
        self.log.clear()

    def count(self, prefix: str) -> int:
        return sum(1 for s in self.log if s.upper().startswith(prefix))


@pytest.fixture
def statements(repo: SqlRepository) -> Iterator[Statements]:
    seen = Statements()
    raw = repo.conn.raw  # type: ignore[attr-defined]
    raw.set_trace_callback(lambda sql: seen.log.append(" ".join(sql.split())))
    yield seen
    raw.set_trace_callback(None)


def _session_payloads(path: Path, session_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = query(
        path,
        "SELECT payload FROM outbox WHERE entity = 'session' AND entity_id = ? "
        "ORDER BY mutation_id",
        session_id.hex,
    )
    return [json.loads(r["payload"]) for r in rows]


# -- one transaction per action, with its outbox rows ----------------------------------


async def test_each_action_is_one_transaction_writing_session_ledger_and_outbox(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    db_path: Path,
    statements: Statements,
) -> None:
    # (action, outbox rows it must add, of which ledger rows)
    async def start() -> Session:
        return await service.start(task="Write", tags=["deep"], minutes=25)

    async def pause() -> Session:
        clock.advance(minutes=5)
        return await service.pause()

    async def resume() -> Session:
        clock.advance(minutes=30)
        return await service.resume()

    async def extend() -> Session:
        clock.advance(minutes=5)
        return await service.extend(10)

    async def complete() -> Session:
        clock.advance(minutes=12)
        return (await service.complete()).session

    steps = [(start, 1, 0), (pause, 1, 0), (resume, 1, 0), (extend, 1, 0), (complete, 2, 1)]
    seen_versions = []
    for action, outbox_added, ledger_added in steps:
        before_outbox = len(outbox_rows(db_path))
        before_ledger = len(query(db_path, "SELECT * FROM ledger"))
        statements.clear()
        session = await action()
        writes = [s for s in statements.log if s.startswith(("INSERT", "UPDATE", "DELETE"))]
        # Exactly one BEGIN IMMEDIATE ... COMMIT around every write of the action.
        assert statements.count("BEGIN IMMEDIATE") == 1, action.__name__
        assert statements.count("COMMIT") == 1, action.__name__
        assert statements.count("ROLLBACK") == 0, action.__name__
        begin = statements.log.index("BEGIN IMMEDIATE")
        commit = statements.log.index("COMMIT")
        assert writes and all(begin < statements.log.index(w) < commit for w in writes)
        rows = outbox_rows(db_path)
        assert len(rows) - before_outbox == outbox_added, action.__name__
        assert len(query(db_path, "SELECT * FROM ledger")) - before_ledger == ledger_added
        new = rows[before_outbox:]
        session_row = next(r for r in new if r["entity"] == "session")
        assert session_row["version"] == session.version
        seen_versions.append(session.version)

    assert seen_versions == [1, 2, 3, 4, 5]  # every change raises the version by exactly one

    final = await repo.get_session(session.id)
    assert final is not None and final.status is Status.COMPLETED
    # 5 + 5 + 12 minutes focused (the 30-minute pause is not focus)
    assert final.focused == timedelta(minutes=22)
    assert (final.xp_awarded, final.coins_awarded) == (22, 22 // 5)
    ledger = query(db_path, "SELECT * FROM ledger")
    assert len(ledger) == 1
    assert (ledger[0]["xp"], ledger[0]["coins"]) == (22, 4)
    assert ledger[0]["idempotency_key"] == f"focus_complete:{final.id}"
    ledger_out = [r for r in outbox_rows(db_path) if r["entity"] == "ledger"]
    assert len(ledger_out) == 1 and ledger_out[0]["entity_id"] == ledger[0]["id"]


async def test_outbox_payload_is_the_full_new_state_of_each_version(
    service: FocusService, clock: FakeClock, repo: SqlRepository, db_path: Path
) -> None:
    started = await service.start(task="Read", tags=["books", "calm"], minutes=20)
    payloads = [_session_payloads(db_path, started.id)]
    clock.advance(minutes=4)
    paused = await service.pause()
    clock.advance(minutes=1)
    resumed = await service.resume()
    clock.advance(minutes=2)
    abandoned = await service.abandon("phone call")

    payloads_all = _session_payloads(db_path, started.id)
    assert len(payloads[0]) == 1
    assert [p["version"] for p in payloads_all] == [1, 2, 3, 4]
    # Every column of the session's state (the stamp is the server's, set where it lands).
    columns = {c.name for c in sessions.columns} - {"change_stamp"}
    for payload, state in zip(payloads_all, (started, paused, resumed, abandoned), strict=True):
        assert set(payload) == columns  # every column, not a diff
        assert payload == to_payload(session_to_row(state))
    last = payloads_all[-1]
    assert last["status"] == "abandoned"
    assert last["abandon_reason"] == "phone call"
    assert last["abandoned_at"] == clock.now().isoformat()
    assert last["focused_us"] == 6 * 60 * 1_000_000
    assert last["tags"] == ["books", "calm"]
    assert last["user_id"] == str(repo.identity.user_id)
    assert last["client_id"] == str(repo.identity.client_id)
    # The stored row agrees with the last payload.
    stored = await repo.get_session(started.id)
    assert stored == abandoned
    for row in outbox_rows(db_path):
        assert uuid.UUID(row["user_id"]) == repo.identity.user_id
        assert uuid.UUID(row["client_id"]) == repo.identity.client_id


async def test_a_failure_before_commit_leaves_session_ledger_and_outbox_untouched(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = await service.start(minutes=25)
    clock.advance(minutes=20)
    outbox_before = [tuple(r) for r in outbox_rows(db_path)]
    original = SqlTransaction.commit

    async def crash_before_commit(self: SqlTransaction) -> None:
        await self.recorder.finish(self)
        raise RuntimeError("power cut")

    monkeypatch.setattr(SqlTransaction, "commit", crash_before_commit)
    with pytest.raises(RuntimeError, match="power cut"):
        await service.complete()
    monkeypatch.setattr(SqlTransaction, "commit", original)

    assert [tuple(r) for r in outbox_rows(db_path)] == outbox_before
    assert query(db_path, "SELECT * FROM ledger") == []
    assert await repo.get_session(started.id) == started
    assert await repo.total_xp() == 0
    # And the same action then goes through whole.
    done = await service.complete()
    assert done.session.xp_awarded == 20
    assert len(outbox_rows(db_path)) == len(outbox_before) + 2


# -- mutation ids ------------------------------------------------------------------------


async def test_mutation_ids_strictly_increase_and_are_never_reused(
    service: FocusService, clock: FakeClock, db_path: Path
) -> None:
    for _ in range(3):
        await service.start(minutes=10)
        clock.advance(minutes=8)
        await service.complete()
    ids = [r["mutation_id"] for r in outbox_rows(db_path)]
    assert len(ids) == 3 * 3  # start, completion, ledger row
    assert ids == sorted(set(ids))
    newest = ids[-1]
    assert query(db_path, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'")[0][0] == ids[-1]
    # Delete the newest rows (as an acknowledged push would): their ids stay spent.
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM outbox WHERE mutation_id >= ?", (ids[-4],))
    conn.commit()
    conn.close()
    await service.start(minutes=10)
    after = [r["mutation_id"] for r in outbox_rows(db_path)]
    assert after[:-1] == ids[:-4]
    assert after[-1] == newest + 1
    # Even with the whole outbox emptied.
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM outbox")
    conn.commit()
    conn.close()
    await service.pause()
    assert [r["mutation_id"] for r in outbox_rows(db_path)] == [newest + 2]


# -- the open-session index --------------------------------------------------------------


def _copy_session(path: Path, source_id: uuid.UUID, **changes: Any) -> None:
    """Insert a copy of a session row with a new id, straight through SQL."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        row = dict(conn.execute("SELECT * FROM sessions WHERE id = ?", (source_id.hex,)).fetchone())
        row |= {"id": uuid.uuid4().hex} | changes
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        conn.execute(f"INSERT INTO sessions ({cols}) VALUES ({marks})", list(row.values()))
        conn.commit()
    finally:
        conn.close()


async def test_the_database_itself_refuses_a_second_open_session(
    service: FocusService, db_path: Path, repo: SqlRepository
) -> None:
    first = await service.start(minutes=25)
    for status in ("active", "paused"):
        with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
            _copy_session(db_path, first.id, status=status)
    # Terminal sessions are unlimited, and another device (client) may have its own open one.
    for status in ("completed", "abandoned", "expired", "completed", "abandoned"):
        _copy_session(db_path, first.id, status=status)
    _copy_session(db_path, first.id, client_id=uuid.uuid4().hex)
    _copy_session(db_path, first.id, user_id=uuid.uuid4().hex)
    counts = dict(
        (r[0], r[1])
        for r in query(db_path, "SELECT status, count(*) FROM sessions GROUP BY status")
    )
    assert counts == {"active": 3, "completed": 2, "abandoned": 2, "expired": 1}
    mine = query(
        db_path,
        "SELECT count(*) FROM sessions WHERE user_id = ? AND client_id = ? "
        "AND status IN ('active', 'paused')",
        repo.identity.user_id.hex,
        repo.identity.client_id.hex,
    )
    assert mine[0][0] == 1


async def test_the_repository_maps_the_index_violation_to_refused(
    repo: SqlRepository, service: FocusService, clock: FakeClock
) -> None:
    first = await service.start(minutes=25)
    # Bypass the service's own check: insert a second open session in a transaction.
    from dataclasses import replace

    second = replace(first, id=uuid.uuid4())
    async with repo.transaction() as tx:
        with pytest.raises(RefusedError, match="already open"):
            await tx.insert_session(second)
    assert await repo.get_session(second.id) is None
    assert (await repo.open_session()) == first


# -- concurrent writers -----------------------------------------------------------------


@pytest.fixture
async def twins(
    db_path: Path, zone: ZoneInfo, clock: FakeClock, repo: SqlRepository
) -> AsyncIterator[list[FocusService]]:
    """Four more repositories (each its own engine and connection) on the same file."""
    repos = [await open_repository(db_path, zone, clock.now()) for _ in range(4)]
    yield [FocusService(r, clock, zone) for r in repos]
    for r in repos:
        await r.close()


async def test_concurrent_starts_leave_exactly_one_open_session(
    twins: list[FocusService], db_path: Path
) -> None:
    results = await asyncio.gather(
        *(s.start(minutes=25, task=f"writer {i}") for i, s in enumerate(twins)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, Session)]
    losers = [r for r in results if not isinstance(r, Session)]
    assert len(winners) == 1
    assert len(losers) == len(twins) - 1
    assert all(isinstance(e, RefusedError) for e in losers), losers
    rows = query(db_path, "SELECT id, task_title, status FROM sessions")
    assert [(r["id"], r["task_title"], r["status"]) for r in rows] == [
        (winners[0].id.hex, winners[0].task_title, "active")
    ]
    assert len(outbox_rows(db_path)) == 1
    assert query(db_path, "PRAGMA integrity_check")[0][0] == "ok"


async def test_concurrent_completions_pay_once(
    twins: list[FocusService], clock: FakeClock, db_path: Path
) -> None:
    started = await twins[0].start(minutes=30)
    clock.advance(minutes=20)
    results = await asyncio.gather(*(s.complete() for s in twins), return_exceptions=True)
    done = [r for r in results if not isinstance(r, BaseException)]
    assert len(done) == 1
    assert all(isinstance(r, RefusedError) for r in results if isinstance(r, BaseException))
    assert done[0].session.xp_awarded == 20
    ledger = query(db_path, "SELECT session_id, xp, coins FROM ledger")
    assert [tuple(r) for r in ledger] == [(started.id.hex, 20, 4)]
    assert query(db_path, "PRAGMA integrity_check")[0][0] == "ok"


# -- keyset history ----------------------------------------------------------------------


async def test_keyset_pages_with_tied_start_times_return_every_session_once(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    statements: Statements,
    db_path: Path,
) -> None:
    made: list[Session] = []
    for instant_minutes in (0, 0, 0, 0, 0, 30, 30, 30, 60, 60, 90):
        clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=instant_minutes))
        made.append(await service.start(minutes=25))
        await service.abandon()
    expected = sorted(made, key=lambda s: (s.started_at, s.id), reverse=True)

    statements.clear()
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await service.history(limit=3, before=cursor)
        pages += 1
        seen.extend(s.id for s in page.sessions)
        if page.next_cursor is None:
            break
        assert page.next_cursor == encode_cursor(page.sessions[-1])
        cursor = page.next_cursor
    assert seen == [s.id for s in expected]  # newest first, ties by id, each exactly once
    assert pages == 4
    history_sql = [s for s in statements.log if "FROM sessions" in s and "ORDER BY" in s]
    assert len(history_sql) == pages
    assert not any("OFFSET" in sql.upper() for sql in history_sql)  # keyset, never OFFSET

    # The repository page straight from a cursor in the middle of a tie.
    tie = expected[5]  # one of the five sessions started at 09:00
    rest = await repo.history(100, Cursor(tie.started_at, tie.id))
    assert [s.id for s in rest] == [s.id for s in expected[6:]]

    # The cursor query seeks the history index and sorts nothing.
    plan = query(
        db_path,
        "EXPLAIN QUERY PLAN SELECT * FROM sessions WHERE user_id = ? "
        "AND (started_at, id) < (?, ?) ORDER BY started_at DESC, id DESC LIMIT 3",
        repo.identity.user_id.hex,
        "2026-03-02 09:30:00.000000",
        tie.id.hex,
    )
    detail = " ".join(r["detail"] for r in plan)
    assert "ix_sessions_history" in detail
    assert "TEMP B-TREE" not in detail


async def test_history_filters_by_status_and_mode(service: FocusService, clock: FakeClock) -> None:
    await service.start(mode=Mode.FOCUS, minutes=15)
    clock.advance(minutes=10)
    await service.complete()
    await service.start(mode=Mode.SHORT_BREAK, minutes=5)
    clock.advance(minutes=1)
    await service.abandon()
    await service.start(mode=Mode.FOCUS, minutes=5)
    clock.advance(minutes=1)
    await service.abandon()
    page = await service.history(statuses=(Status.ABANDONED,))
    assert [s.mode for s in page.sessions] == [Mode.FOCUS, Mode.SHORT_BREAK]
    page = await service.history(modes=(Mode.FOCUS,), statuses=(Status.COMPLETED,))
    assert len(page.sessions) == 1 and page.sessions[0].xp_awarded == 10


# -- counts are per user -----------------------------------------------------------------


async def test_counts_and_history_are_exact_per_user(
    service: FocusService, repo: SqlRepository, clock: FakeClock, zone: ZoneInfo
) -> None:
    other_repo = SqlRepository(repo.conn, Identity(uuid.uuid4(), uuid.uuid4()), zone)
    other = FocusService(other_repo, clock, zone)
    for svc, completed, abandoned in ((service, 3, 1), (other, 2, 4)):
        for _ in range(completed):
            await svc.start(minutes=15, task="shared")
            clock.advance(minutes=10)
            await svc.complete()
        for _ in range(abandoned):
            await svc.start(minutes=10, task="shared")
            clock.advance(minutes=2)
            await svc.abandon()
    # Each user may even hold an open session at the same time on the same file.
    await service.start(minutes=10)
    await other.start(minutes=10)

    mine, theirs = await service.stats(), await other.stats()
    assert (mine.total.completed, mine.total.abandoned) == (3, 1)
    assert (theirs.total.completed, theirs.total.abandoned) == (2, 4)
    assert mine.total.xp == 30 and theirs.total.xp == 20
    assert mine.by_task == [("shared", mine.focus)]
    assert len((await service.history(limit=100)).sessions) == 3 + 1 + 1
    assert len((await other.history(limit=100)).sessions) == 2 + 4 + 1
    # outbox rows: start + complete + ledger per completion, start + abandon per abandon
    assert await repo.pending_changes() == 3 * 3 + 1 * 2 + 1
    assert await other_repo.pending_changes() == 2 * 3 + 4 * 2 + 1
    assert await repo.total_xp() == 30 and await other_repo.total_xp() == 20


# -- the ledger ----------------------------------------------------------------------------


async def test_a_ledger_idempotency_key_pays_only_once(
    service: FocusService, repo: SqlRepository, clock: FakeClock, db_path: Path
) -> None:
    await service.start(minutes=25)
    clock.advance(minutes=24)
    done = (await service.complete()).session
    key = f"focus_complete:{done.id}"
    outbox_before = len(outbox_rows(db_path))
    async with repo.transaction() as tx:
        again = await tx.add_ledger(
            LedgerEntry(uuid.uuid4(), repo.identity.user_id, key, done.id, 99, 99, "x", clock.now())
        )
        await tx.commit()
    assert again is False
    assert len(outbox_rows(db_path)) == outbox_before  # nothing to sync either
    conn = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute(
            "INSERT INTO ledger (id, user_id, idempotency_key, session_id, xp, coins, reason, "
            "created_at) VALUES (?, ?, ?, NULL, 1, 1, 'x', '2026-03-02 10:00:00.000000')",
            (uuid.uuid4().hex, repo.identity.user_id.hex, key),
        )
    conn.close()

    # The same session brought back open (as a replayed change would) and completed again:
    # the ledger refuses the second award and the session records no reward.
    conn = sqlite3.connect(db_path)
    conn.execute(
        "UPDATE sessions SET status = 'active', completed_at = NULL, ends_at = ?, "
        "version = version + 1 WHERE id = ?",
        ((clock.now() + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M:%S.%f"), done.id.hex),
    )
    conn.commit()
    conn.close()
    clock.advance(minutes=3)
    second = await service.complete()
    assert second.session.id == done.id
    assert (second.session.xp_awarded, second.session.coins_awarded) == (0, 0)
    ledger = query(db_path, "SELECT xp, coins FROM ledger")
    assert [tuple(r) for r in ledger] == [(24, 4)]


# -- files that are not ours ------------------------------------------------------------


def _not_focus_files(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("my precious notes\n", encoding="utf-8")
    yield text_file, "not a SQLite database"
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.execute("INSERT INTO contacts VALUES ('Ada')")
    conn.commit()
    conn.close()
    yield other, "not a Focus database"
    wal = tmp_path / "other-wal.sqlite"  # another program's database, in WAL mode
    conn = sqlite3.connect(wal)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    yield wal, "not a Focus database"
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\x07" * 200)
    yield broken, "broken.db"


async def test_files_that_are_not_focus_databases_are_refused_untouched(
    tmp_path: Path, zone: ZoneInfo, clock: FakeClock
) -> None:
    for path, reason in _not_focus_files(tmp_path):
        before = fingerprint(path)
        siblings = sorted(p.name for p in tmp_path.iterdir())
        for readonly in (False, True):
            with pytest.raises(StorageError, match=reason) as info:
                await open_repository(path, zone, clock.now(), readonly=readonly)
        assert str(path) in info.value.message
        assert "\n" not in info.value.message
        assert info.value.exit_code == 2
        assert fingerprint(path) == before, path
        assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # no -wal, no backup


async def test_a_directory_is_refused(tmp_path: Path, zone: ZoneInfo, clock: FakeClock) -> None:
    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(StorageError, match="is a directory"):
        await open_repository(folder, zone, clock.now())
    assert list(folder.iterdir()) == []


async def test_a_newer_schema_is_refused_without_modification(
    tmp_path: Path, zone: ZoneInfo, clock: FakeClock
) -> None:
    path = tmp_path / "future.db"
    repo = await open_repository(path, zone, clock.now())
    await FocusService(repo, clock, zone).start(minutes=5)
    await repo.close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    before = fingerprint(path)
    with pytest.raises(StorageError, match="newer") as info:
        await open_repository(path, zone, clock.now())
    assert "9999" in info.value.message and HEAD in info.value.message
    assert fingerprint(path) == before
    assert not list(tmp_path.glob("*.bak-*"))
    # (A read-only look at a WAL database may leave empty -wal/-shm beside it; no content.)
    wal = path.with_name(path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    assert query(path, "SELECT version_num FROM alembic_version")[0][0] == "9999"
    assert len(query(path, "SELECT * FROM sessions")) == 1


async def test_an_empty_file_becomes_a_new_database(
    tmp_path: Path, zone: ZoneInfo, clock: FakeClock
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    repo = await open_repository(path, zone, clock.now())
    try:
        assert await repo.open_session() is None
    finally:
        await repo.close()
    assert query(path, "SELECT version_num FROM alembic_version")[0][0] == HEAD
    assert not list(tmp_path.glob("*.bak-*"))  # nothing to back up


async def test_reopening_keeps_the_identity(
    db_path: Path, zone: ZoneInfo, clock: FakeClock, repo: SqlRepository
) -> None:
    again = await open_repository(db_path, zone, clock.now())
    try:
        assert again.identity == repo.identity
    finally:
        await again.close()
    meta = dict((r[0], r[1]) for r in query(db_path, "SELECT key, value FROM meta"))
    assert uuid.UUID(meta["user_id"]) == repo.identity.user_id
    assert uuid.UUID(meta["client_id"]) == repo.identity.client_id


async def test_a_new_database_gets_a_new_client_id(
    tmp_path: Path, zone: ZoneInfo, clock: FakeClock, repo: SqlRepository
) -> None:
    other = await open_repository(tmp_path / "second.db", zone, clock.now())
    try:
        assert other.identity.client_id != repo.identity.client_id
    finally:
        await other.close()


# -- connection settings ------------------------------------------------------------------


async def test_connections_use_wal_full_sync_foreign_keys_and_a_busy_timeout(
    repo: SqlRepository, db_path: Path
) -> None:
    values = {
        name: (await repo.conn.fetch(f"PRAGMA {name}"))[0][0]
        for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
    }
    assert values["journal_mode"] == "wal"
    assert values["synchronous"] == 2  # FULL
    assert values["foreign_keys"] == 1
    assert values["busy_timeout"] >= 1000
    # WAL is a property of the file: another process sees it too.
    assert query(db_path, "PRAGMA journal_mode")[0][0] == "wal"


async def test_foreign_keys_are_enforced(repo: SqlRepository) -> None:
    async with repo.transaction() as tx:
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            await tx.conn.execute(
                "INSERT INTO tracks (id, user_id, library_id, title, added_at) "
                "VALUES (:id, :uid, :lib, 'orphan', :at)",
                {
                    "id": uuid.uuid4().hex,
                    "uid": repo.identity.user_id.hex,
                    "lib": uuid.uuid4().hex,
                    "at": sqlite_instant(datetime(2026, 3, 2, tzinfo=UTC)),
                },
            )


def test_naive_datetimes_are_refused_by_the_codec() -> None:
    with pytest.raises(ValueError, match="naive"):
        sqlite_instant(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        sqlite_row({"started_at": datetime(2026, 1, 1)})


async def test_two_opens_of_a_new_file_at_once_in_one_process_agree(
    tmp_path: Path, zone: ZoneInfo, clock: FakeClock
) -> None:
    path = tmp_path / "fresh.db"
    first, second = await asyncio.gather(
        open_repository(path, zone, clock.now()), open_repository(path, zone, clock.now())
    )
    try:
        assert first.identity == second.identity
    finally:
        await first.close()
        await second.close()
