"""Alembic migrations: the declared head, no drift from storage/schema.py, idempotent
upgrades, and an older database copied aside before it is upgraded."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import storage.local
import storage.migrate
from app import cli
from app.clock import FakeClock
from app.services import FocusService
from storage.local import open_repository, upgrade_file
from storage.migrate import MIGRATIONS, alembic_config, head_revision, known_revisions
from storage.migrations import HEAD
from storage.schema import metadata

PROBE = f"{int(HEAD) + 1:04d}"
"""A revision after the real head, that a test pretends this focus ships."""
SECOND = f"""
from alembic import op

revision = "{PROBE}"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_test_probe", "meta", ["value"])


def downgrade() -> None:
    op.drop_index("ix_test_probe", "meta")
"""


def schema_sql(path: Path) -> dict[str, str]:
    """Every table and index definition in the file, whitespace normalised."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
        ).fetchall()
    finally:
        conn.close()
    out = {}
    for name, sql in rows:
        sql = " ".join(sql.split())
        # `DEFAULT (false)` and `DEFAULT false` are the same default.
        out[name] = re.sub(r"DEFAULT \(([^()]*)\)", r"DEFAULT \1", sql)
    return out


def revision_of(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        conn.close()


async def _upgraded(path: Path) -> Path:
    await upgrade_file(path, datetime(2026, 3, 2, tzinfo=UTC))
    return path


def test_declared_head_is_alembics_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD]
    assert head_revision() == HEAD
    assert HEAD in known_revisions()
    # Every revision file is reachable from the head (no orphan, no branch).
    files = {p.stem.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("*.py")}
    assert files == known_revisions()


async def test_a_migrated_database_matches_the_schema_module(tmp_path: Path) -> None:
    path = await _upgraded(tmp_path / "migrated.db")
    assert revision_of(path) == HEAD
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
    # compare_metadata does not look at partial-index WHERE clauses, AUTOINCREMENT,
    # WITHOUT ROWID or CHECK constraints: compare the DDL itself with create_all's.
    fresh = tmp_path / "create_all.db"
    engine = create_engine(f"sqlite:///{fresh}")
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    migrated, declared = schema_sql(path), schema_sql(fresh)
    assert migrated == declared
    assert "WHERE status IN ('active', 'paused')" in migrated["uq_sessions_open"]
    assert "AUTOINCREMENT" in migrated["outbox"]


async def test_upgrading_twice_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "twice.db"
    first = await upgrade_file(path, datetime(2026, 3, 2, tzinfo=UTC))
    assert first == (None, HEAD, None)
    schema, content = schema_sql(path), path.read_bytes()
    second = await upgrade_file(path, datetime(2026, 3, 3, tzinfo=UTC))
    assert second == (HEAD, HEAD, None)
    assert schema_sql(path) == schema
    assert path.read_bytes() == content
    assert not list(tmp_path.glob("*.bak-*"))


def _run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_focus_db_upgrade_twice_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli.db"
    code, out, err = _run_cli(["--db", str(path), "db", "upgrade", "--json"], capsys)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"db_path": str(path), "from": None, "to": HEAD, "backup": None}
    schema = schema_sql(path)
    code, out, err = _run_cli(["db", "upgrade", "--db", str(path), "--json"], capsys)
    assert (code, err) == (0, "")
    assert json.loads(out) == {"db_path": str(path), "from": HEAD, "to": HEAD, "backup": None}
    assert schema_sql(path) == schema
    code, out, _ = _run_cli(["--db", str(path), "db", "upgrade"], capsys)
    assert code == 0 and out.strip() == f"{path}: schema {HEAD}"


def pretend_newer_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """From here on this focus ships one more migration (PROBE): older files get upgraded."""
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / f"{PROBE}_test_probe.py").write_text(SECOND, encoding="utf-8")
    monkeypatch.setattr(storage.migrate, "MIGRATIONS", scripts)
    monkeypatch.setattr(storage.local, "HEAD", PROBE)
    return PROBE


async def test_an_older_database_is_backed_up_then_upgraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone, clock = ZoneInfo("UTC"), FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    path = tmp_path / "old.db"
    repo = await open_repository(path, zone, clock.now())
    old_session = await FocusService(repo, clock, zone).start(minutes=25, task="kept")
    identity = repo.identity
    await repo.close()
    assert revision_of(path) == HEAD

    pretend_newer_code(tmp_path, monkeypatch)
    later = datetime(2026, 3, 5, 18, 30, 15, tzinfo=UTC)
    repo = await open_repository(path, zone, later)
    try:
        assert repo.identity == identity
        assert await repo.open_session() == old_session
    finally:
        await repo.close()
    assert revision_of(path) == PROBE
    assert "ix_test_probe" in schema_sql(path)

    backup = path.with_name(f"old.db.bak-{HEAD}-20260305T183015Z")
    assert sorted(p.name for p in tmp_path.glob("old.db.bak-*")) == [backup.name]
    assert revision_of(backup) == HEAD
    assert "ix_test_probe" not in schema_sql(backup)
    conn = sqlite3.connect(backup)
    try:
        assert conn.execute("SELECT task_title FROM sessions").fetchall() == [("kept",)]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()

    # Already at the new head: no second backup.
    again = await upgrade_file(path, later)
    assert again == (PROBE, PROBE, None)
    assert len(list(tmp_path.glob("old.db.bak-*"))) == 1


def test_focus_db_upgrade_reports_the_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cli-old.db"
    code, _, err = _run_cli(["--db", str(path), "db", "upgrade"], capsys)
    assert (code, err) == (0, "")
    assert revision_of(path) == HEAD
    before = path.read_bytes()

    new_head = pretend_newer_code(tmp_path, monkeypatch)
    code, out, err = _run_cli(["--db", str(path), "db", "upgrade", "--json"], capsys)
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert (report["from"], report["to"]) == (HEAD, new_head)
    backup = Path(report["backup"])
    assert backup.parent == path.parent
    assert re.fullmatch(rf"cli-old\.db\.bak-{HEAD}-\d{{8}}T\d{{6}}Z", backup.name)
    assert revision_of(backup) == HEAD and revision_of(path) == new_head
    assert schema_sql(backup) == schema_sql_of_bytes(tmp_path, before)
    code, out, _ = _run_cli(["--db", str(path), "db", "upgrade", "--json"], capsys)
    assert code == 0 and json.loads(out)["backup"] is None


def schema_sql_of_bytes(tmp_path: Path, content: bytes) -> dict[str, str]:
    copy = tmp_path / "copy-of-before.db"
    copy.write_bytes(content)
    return schema_sql(copy)


async def test_a_0001_database_keeps_every_row_through_the_rekeying_upgrade(
    tmp_path: Path,
) -> None:
    """0002 rebuilds sessions, ledger, libraries and tracks with (user_id, id) keys: every
    row, the outbox and the identity survive, and a track keeps its library (no cascade)."""
    from storage.migrate import sqlite_engine, upgrade

    zone, clock = ZoneInfo("UTC"), FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    path = tmp_path / "v1.db"
    engine = sqlite_engine(path)
    try:
        await upgrade(engine, "0001")
    finally:
        await engine.dispose()
    user, client = "a" * 32, "b" * 32
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [
                ("user_id", str(uuid.UUID(user))),
                ("client_id", str(uuid.UUID(client))),
                ("rollup_tz", "UTC"),
            ],
        )
        conn.execute(
            "INSERT INTO sessions (id, user_id, client_id, mode, status, task_title, tags, "
            "planned_seconds, started_at, ends_at, created_at, updated_at, xp_awarded, "
            "focused_us, completed_at, version) VALUES ('c' || substr(?, 2), ?, ?, 'focus', "
            "'completed', 'old work', '[\"deep\"]', 1500, '2026-03-01 08:00:00.000000', "
            "'2026-03-01 08:25:00.000000', '2026-03-01 08:00:00.000000', "
            "'2026-03-01 08:25:00.000000', 25, 1500000000, '2026-03-01 08:25:00.000000', 3)",
            (user, user, client),
        )
        conn.execute(
            "INSERT INTO ledger (id, user_id, idempotency_key, session_id, xp, coins, reason, "
            "created_at) VALUES (?, ?, 'focus_complete:x', NULL, 25, 5, 'focus_complete', "
            "'2026-03-01 08:25:00.000000')",
            ("d" * 32, user),
        )
        conn.execute(
            "INSERT INTO outbox (user_id, client_id, entity, entity_id, version, payload, "
            "created_at) VALUES (?, ?, 'session', ?, 3, '{}', '2026-03-01 08:25:00.000000')",
            (user, client, "c" + user[1:]),
        )
        conn.execute(
            "INSERT INTO libraries (id, user_id, name, created_at, updated_at) VALUES "
            "(?, ?, 'Rain', '2026-03-01 08:00:00.000000', '2026-03-01 08:00:00.000000')",
            ("e" * 32, user),
        )
        conn.execute(
            "INSERT INTO tracks (id, user_id, library_id, title, added_at) VALUES "
            "(?, ?, ?, 'storm', '2026-03-01 08:00:00.000000')",
            ("f" * 32, user, "e" * 32),
        )
    conn.close()

    repo = await open_repository(path, zone, clock.now())
    try:
        history = await repo.history(10)
        assert [(s.task_title, s.xp_awarded, s.tags) for s in history] == [
            ("old work", 25, ("deep",))
        ]
        assert repo.identity.user_id.hex == user and repo.identity.client_id.hex == client
        assert await repo.pending_changes() == 1
    finally:
        await repo.close()
    assert revision_of(path) == HEAD
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT title, library_id FROM tracks").fetchall() == [
            ("storm", "e" * 32)
        ]
        assert conn.execute("SELECT xp FROM ledger").fetchall() == [(25,)]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert not conn.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE '_old_%'"
        ).fetchall()
    finally:
        conn.close()
