"""The SQLite store on real files: one transaction per action, the outbox, concurrent
writers keeping the file sound, how history pages run, settings, and files it must not
touch. The repository contract itself (lifecycle, the open-session index, ledger, history,
per-user counts, concurrency, atomicity) runs on SQLite and Postgres in tests/contract."""

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
from app.domain.errors import StorageError
from app.domain.models import Session, Status
from app.services import FocusService
from storage.codec import session_to_row, sqlite_instant, sqlite_row, to_payload
from storage.local import open_repository
from storage.migrations import HEAD
from storage.schema import sessions
from storage.sql import SqlRepository

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
    columns = {c.name for c in sessions.columns} - {"change_stamp", "changed_by"}
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


async def test_concurrent_writers_keep_the_file_intact_and_record_each_change_once(
    twins: list[FocusService], clock: FakeClock, db_path: Path
) -> None:
    """(That one start and one completion win is the contract, tests/contract; here the
    file: one outbox row per committed change and a sound database afterwards.)"""
    started = await asyncio.gather(*(s.start(minutes=25) for s in twins), return_exceptions=True)
    assert sum(isinstance(r, Session) for r in started) == 1
    assert [r["entity"] for r in outbox_rows(db_path)] == ["session"]
    clock.advance(minutes=20)
    done = await asyncio.gather(*(s.complete() for s in twins), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in done) == 1
    # A completion records the session before its award (a batch never splits them wrongly).
    assert [r["entity"] for r in outbox_rows(db_path)] == ["session", "session", "ledger"]
    assert query(db_path, "PRAGMA integrity_check")[0][0] == "ok"


# -- keyset history ----------------------------------------------------------------------


async def test_history_pages_seek_the_index_and_never_use_offset(
    service: FocusService,
    clock: FakeClock,
    repo: SqlRepository,
    statements: Statements,
    db_path: Path,
) -> None:
    """(Every row once across tied start times is the contract, tests/contract; here how
    SQLite runs the pages.)"""
    made: list[Session] = []
    for instant_minutes in (0, 0, 0, 30, 30, 30, 60):
        clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC) + timedelta(minutes=instant_minutes))
        made.append(await service.start(minutes=25))
        await service.abandon()
    expected = sorted(made, key=lambda s: (s.started_at, s.id), reverse=True)

    statements.clear()
    cursor: str | None = None
    pages = 0
    while True:
        page = await service.history(limit=3, before=cursor)
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == 3
    history_sql = [s for s in statements.log if "FROM sessions" in s and "ORDER BY" in s]
    assert len(history_sql) == pages
    assert not any("OFFSET" in sql.upper() for sql in history_sql)  # keyset, never OFFSET

    # The cursor query seeks the history index and sorts nothing.
    tie = expected[2]  # the middle one of the three sessions started at 09:30
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
