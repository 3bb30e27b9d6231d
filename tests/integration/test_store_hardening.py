"""The store against odd paths, damaged files, read-only files, odd rows and held locks:
nothing is created by a read, nothing is written to a damaged file, one bad row never stops
the others, and a lock is one error."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.clock import FakeClock
from app.domain.errors import BusyError, DamagedError, ReadOnlyError
from app.domain.models import Status
from app.services import FocusService
from storage import sqlite as sqlite_store
from storage.local import open_repository
from storage.sql import SqlRepository
from tests.e2e.conftest import Focus, assert_one_line_error, make_focus


@pytest.fixture
def focus(tmp_path: Path) -> Focus:
    return make_focus(tmp_path / "cli")


async def _seed(path: Path, clock: FakeClock, zone: ZoneInfo, n: int = 3) -> list[uuid.UUID]:
    repo = await open_repository(path, zone, clock.now())
    service = FocusService(repo, clock, zone)
    ids = []
    try:
        for i in range(n):
            s = await service.start(minutes=10, task=f"task {i}", tags=["t"])
            clock.advance(minutes=10)
            await service.complete()
            ids.append(s.id)
            clock.advance(minutes=1)
    finally:
        await repo.close()
    return ids


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _raw(path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _corrupt_page_of(path: Path, name: str) -> None:
    """Overwrite the first page of table or index `name` with garbage (after a checkpoint)."""
    _raw(path, "PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = int(_raw(path, "PRAGMA page_size")[0][0])  # type: ignore[call-overload]
    root = int(_raw(path, "SELECT rootpage FROM sqlite_master WHERE name = ?", name)[0][0])  # type: ignore[call-overload]
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(bytes([0xFF, 0x13, 0x37, 0x00]) * (page_size // 4))
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["what?.db", "q?mode=ro#frag.db", "100%.db", "sp ace#1.db"])
async def test_a_path_is_a_path_whatever_its_characters(
    tmp_path: Path, clock: FakeClock, zone: ZoneInfo, name: str
) -> None:
    path = tmp_path / name
    await _seed(path, clock, zone, n=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing else, no stray file
    repo = await open_repository(path, zone, clock.now(), readonly=True)
    try:
        assert len(await repo.history(10)) == 1
    finally:
        await repo.close()


async def test_a_read_only_open_of_a_missing_file_creates_nothing(
    tmp_path: Path, clock: FakeClock, zone: ZoneInfo
) -> None:
    path = tmp_path / "typo" / "sub" / "focsu.db"
    repo = await open_repository(path, zone, clock.now(), readonly=True)
    try:
        service = FocusService(repo, clock, zone)
        assert await service.status() is None
        assert (await service.history()).sessions == []
        assert (await service.stats()).total.finished == 0
        assert [s async for s in service.iter_all()] == []
    finally:
        await repo.close()
    assert list(tmp_path.iterdir()) == []


async def test_reads_leave_the_file_byte_for_byte_alone(
    tmp_path: Path, clock: FakeClock, zone: ZoneInfo
) -> None:
    path = tmp_path / "focus.db"
    await _seed(path, clock, zone)
    before = path.read_bytes(), path.stat().st_mtime_ns
    repo = await open_repository(path, zone, clock.now(), readonly=True)
    try:
        service = FocusService(repo, clock, zone)
        await service.stats()
        await service.history()
        assert len([s async for s in service.iter_all()]) == 3
    finally:
        await repo.close()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A folder whose database cannot be written, not even by root (`chattr +i`)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    yield folder
    for p in folder.iterdir():
        subprocess.run(["chattr", "-i", str(p)], capture_output=True, check=False)


def _make_immutable(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o444)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"chattr +i is needed to test a read-only file: {done.stderr}"


async def test_an_immutable_file_is_read_and_a_write_is_one_clear_error(
    immutable: Path, clock: FakeClock, zone: ZoneInfo
) -> None:
    path = immutable / "focus.db"
    await _seed(path, clock, zone)
    _make_immutable(path)
    repo = await open_repository(path, zone, clock.now(), readonly=True)
    try:
        service = FocusService(repo, clock, zone)
        assert (await service.stats()).total.completed == 3
        assert len((await service.history()).sessions) == 3
        with pytest.raises(ReadOnlyError, match="read-only"):
            await service.start(minutes=5)
    finally:
        await repo.close()


# -- damaged files --------------------------------------------------------------------


@pytest.mark.parametrize("victim", ["ix_sessions_history", "meta", "uq_sessions_open"])
async def test_a_damaged_page_is_found_on_open_and_the_file_never_written(
    tmp_path: Path, clock: FakeClock, zone: ZoneInfo, victim: str
) -> None:
    path = tmp_path / "focus.db"
    await _seed(path, clock, zone)
    _corrupt_page_of(path, victim)
    before = _snapshot(tmp_path)
    for readonly in (True, False):
        with pytest.raises(DamagedError, match="damaged") as caught:
            await open_repository(path, zone, clock.now(), readonly=readonly)
        assert "\n" not in caught.value.message
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("victim", ["ix_sessions_history", "meta"])
def test_the_cli_names_a_damaged_file_in_one_line_and_writes_nothing(
    focus: Focus, clock: FakeClock, zone: ZoneInfo, victim: str
) -> None:
    import asyncio

    asyncio.run(_seed(focus.db, clock, zone))
    _corrupt_page_of(focus.db, victim)
    before = focus.db.read_bytes()
    commands = [["start"], ["history"], ["stats"], ["export"], ["complete"], ["pause"]]
    # `status` reads one row through the open-session index and the meta table: it reports
    # the damage when it meets it there, and otherwise answers without a whole-file check.
    if victim == "meta":
        commands.append(["status"])
    for args in commands:
        line = assert_one_line_error(focus(*args), 2)
        assert "damaged" in line, (args, line)
    assert focus.db.read_bytes() == before


# -- odd rows ---------------------------------------------------------------------------


async def test_malformed_rows_are_skipped_and_counted_never_fatal(
    tmp_path: Path, clock: FakeClock, zone: ZoneInfo
) -> None:
    path = tmp_path / "focus.db"
    ids = await _seed(path, clock, zone, n=4)
    _raw(path, "UPDATE sessions SET tags = '[not json' WHERE id = ?", ids[1].hex)
    _raw(path, "UPDATE sessions SET completed_at = 'yesterday-ish' WHERE id = ?", ids[2].hex)
    repo = await open_repository(path, zone, clock.now(), readonly=True)
    try:
        service = FocusService(repo, clock, zone)
        page = await service.history()
        assert [s.id for s in page.sessions] == [ids[3], ids[0]]
        assert [s.id async for s in service.iter_all()] == [ids[3], ids[0]]
        assert (await service.stats()).total.completed == 4  # the cache still counts them
        assert set(repo.skipped.ids) == {ids[1].hex, ids[2].hex}
    finally:
        await repo.close()


async def test_a_stored_lone_surrogate_or_bad_utf8_never_breaks_a_flow(
    tmp_path: Path, clock: FakeClock, zone: ZoneInfo
) -> None:
    path = tmp_path / "focus.db"
    await _seed(path, clock, zone, n=1)
    repo = await open_repository(path, zone, clock.now())
    service = FocusService(repo, clock, zone)
    try:
        open_one = await service.start(minutes=2)
        # What an older focus let in: a lone surrogate in the JSON tags, and bytes that are not
        # UTF-8 in the title (as another tool could write them).
        _raw(
            path,
            "UPDATE sessions SET tags = ?, task_title = CAST(x'ff41' AS TEXT) WHERE id = ?",
            '["ok", "\\udcff"]',
            open_one.id.hex,
        )
        current = await service.status()
        assert current is not None
        assert current.tags == ("ok", "\ufffd") and current.task_title == "\ufffdA"
        clock.advance(minutes=3)  # it ran out: settling writes the rollups of those tags
        assert (await service.history()).sessions[0].status is Status.COMPLETED
        stats = await service.stats()
        assert ("\ufffd", stats.by_tag[-1][1]) in stats.by_tag
        assert len([s async for s in service.iter_all()]) == 2
    finally:
        await repo.close()


# -- locks ------------------------------------------------------------------------------


async def test_a_held_write_lock_is_one_busy_error_and_reads_go_on(
    tmp_path: Path, clock: FakeClock, zone: ZoneInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "focus.db"
    await _seed(path, clock, zone)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        reader = await open_repository(path, zone, clock.now(), readonly=True)
        writer: SqlRepository = await open_repository(path, zone, clock.now())
        try:
            assert len(await reader.history(10)) == 3
            with pytest.raises(BusyError, match="locked by another process"):
                await FocusService(writer, clock, zone).start(minutes=5)
        finally:
            await reader.close()
            await writer.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(_raw(path, "SELECT id FROM sessions")) == 3


def test_busy_is_one_message_and_exit_code_from_the_cli(
    focus: Focus, clock: FakeClock, zone: ZoneInfo
) -> None:
    import asyncio

    asyncio.run(_seed(focus.db, clock, zone, n=1))
    other = sqlite3.connect(focus.db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        line = assert_one_line_error(focus("start", timeout=30), 1)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert "locked by another process" in line


def test_paths_in_messages_are_shown_safely() -> None:
    """`shown` escapes what a terminal must not see in a path, and keeps the rest."""
    assert sqlite_store.shown(Path("a\x1b[2Jb.db")) == "a\\x1b[2Jb.db"
    assert sqlite_store.shown(os.fsdecode(b"caf\xe9.db")) == "caf\\udce9.db"
    assert sqlite_store.shown("plain/é.db") == "plain/é.db"
