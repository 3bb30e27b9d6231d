"""`focus sync`, run as a user would: the admin sets up the server and adds a user; two
`--db` files are two devices of that user, used before and after sync was configured; after
syncing each twice both show every session exactly once and the same stats. The JSON report,
the exit codes, `--rejected`, and `status --json` (pending_changes, last_sync_at)."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import UserFactory
from tests.e2e.conftest import Focus, assert_one_line_error, make_focus
from tests.e2e.test_cli_postgres import MARGIN, BlackHole, free_port, password_of
from tests.pg import unique_name

pytestmark = pytest.mark.postgres

REPORT_KEYS = {"pushed", "pulled", "rejected", "pending", "round_trips", "seconds"}


async def record_earlier(db: Path, minutes_ago: float, work: float, task: str) -> str:
    """A focus session this device completed `minutes_ago` minutes ago after `work` minutes
    (the CLI's own clock is the real one): a session that earned a reward."""
    from app.clock import FakeClock
    from app.services import FocusService, TimerRules
    from storage.local import open_repository

    utc = ZoneInfo("UTC")
    clock = FakeClock(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    repo = await open_repository(db, utc, clock.now())
    try:
        service = FocusService(repo, clock, utc, TimerRules())
        session = await service.start(minutes=work + 10, task=task, tags=["deep"])
        clock.advance(minutes=work)
        await service.complete()
    finally:
        await repo.close()
    return str(session.id)


def synced(focus: Focus, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`focus sync --json`: exit 0, the report (notes, if any, on stderr)."""
    proc = focus("sync", "--json", *args, env=env)
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    report: dict[str, Any] = json.loads(proc.stdout)
    assert set(report) >= REPORT_KEYS, report
    return report


def history_ids(focus: Focus) -> list[str]:
    return [s["id"] for s in focus.json("history", "--limit", "1000")["sessions"]]


def without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.split("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}"))


@pytest.fixture
def server(pg_url: str, tmp_path: Path) -> dict[str, Any]:
    """`focus server init` and `focus server add-user` on a fresh database, as the admin."""
    admin = make_focus(tmp_path / "admin")
    done = admin.json("server", "init", "--admin-url", pg_url, db=False)
    assert done["schema"] and done["tables"] > 0
    name = unique_name("alice")
    added: dict[str, Any] = admin.json("server", "add-user", name, "--admin-url", pg_url, db=False)
    assert set(added) == {"user_id", "sync_url"}
    return {"role": name, "admin": pg_url} | added


def test_two_devices_sync_through_the_cli(server: dict[str, Any], tmp_path: Path) -> None:
    laptop, phone = make_focus(tmp_path / "laptop"), make_focus(tmp_path / "phone")

    # Used for a while before sync was configured.
    earned = asyncio.run(record_earlier(laptop.db, 120, 50, "deep work"))
    laptop.json("start", "--task", "laptop, before")
    laptop.json("complete")
    phone.json("start", "--task", "phone, before")
    phone.json("abandon", "--reason", "bus stop")
    status = laptop.json("status")
    assert status["pending_changes"] > 0 and status["last_sync_at"] is None

    not_yet = laptop("sync")
    assert "sync is not configured" in assert_one_line_error(not_yet, 2)

    # The laptop from its config file, the phone from the environment, its password apart.
    config = laptop.home / ".config" / "focus" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[sync]\nurl = "{server["sync_url"]}"\n')
    phone.env |= {
        "FOCUS_SYNC_URL": without_password(server["sync_url"]),
        "FOCUS_SYNC_PASSWORD": password_of(server["sync_url"]),
    }

    first = laptop("sync", "--json")
    assert first.returncode == 0, first.stderr
    assert server["role"] in first.stderr and "now belongs to sync user" in first.stderr
    report = json.loads(first.stdout)
    assert set(report) >= REPORT_KEYS
    assert report["adopted"] is True and report["pending"] == 0 and report["rejected"] == 0
    assert report["pushed"] == 5  # two sessions (a start and an end each), one award
    assert report["round_trips"] > 0 and 0 <= report["seconds"] < 30
    assert server["sync_url"] not in first.stdout + first.stderr
    assert password_of(server["sync_url"]) not in first.stdout + first.stderr
    assert synced(phone)["pulled"] == 3  # the laptop's two sessions and its award

    # Used again on both, after sync was configured.
    laptop.json("start", "--task", "laptop, after")
    laptop.json("abandon")
    phone.json("start", "--task", "phone, after", "--tag", "mobile")
    phone.json("complete")
    assert phone.json("status")["pending_changes"] > 0

    for _ in range(2):
        for device in (laptop, phone):
            again = synced(device)
            assert (again["rejected"], again["pending"], again["adopted"]) == (0, 0, False)
    quiet = synced(laptop)
    assert (quiet["pushed"], quiet["pulled"]) == (0, 0)

    # What each device shows (read at the same time: the reads change nothing).
    reads = [["history", "--limit", "1000", "--json"], ["stats", "--json"], ["status", "--json"]]
    shown = []
    for device in (laptop, phone):
        procs = device.many(reads)
        assert all(p.returncode == 0 and p.stderr == "" for p in procs), procs
        shown.append([json.loads(p.stdout) for p in procs])
    (history, stats, laptop_status), (phone_history, phone_stats, phone_status) = shown
    ids = [s["id"] for s in history["sessions"]]
    assert len(ids) == len(set(ids)) == 5, ids
    assert [s["id"] for s in phone_history["sessions"]] == ids, "each session once, on both"
    assert earned in ids
    assert history == phone_history
    assert stats == phone_stats
    assert stats["total"]["completed"] == 1 and stats["total"]["abandoned"] == 2
    assert stats["total"]["too_short"] == 2  # the two completed within a minute count apart
    assert stats["xp"] == 50 and stats["level"]["total_xp"] == 50
    for status in (laptop_status, phone_status):
        assert status["pending_changes"] == 0
        when = datetime.fromisoformat(status["last_sync_at"])
        assert abs(when - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.fixture
def user(pg_user: UserFactory) -> dict[str, Any]:
    """A user on an initialized server, made in-process (faster than the CLI above)."""

    async def make() -> dict[str, Any]:
        return await pg_user()

    return asyncio.run(make())


def test_sync_failures_are_one_line_with_their_exit_code(
    user: dict[str, Any], tmp_path: Path
) -> None:
    focus = make_focus(tmp_path / "device")
    focus.json("start", "--task", "offline")
    focus.json("abandon")
    password = password_of(user["sync_url"])

    def at(port: int) -> str:
        return f"postgresql://{user['role']}:{password}@127.0.0.1:{port}/focus"

    down = focus("sync", env={"FOCUS_SYNC_URL": at(free_port())})
    assert assert_one_line_error(down, 1).startswith("focus: cannot reach Postgres at 127.0.0.1")
    hole = BlackHole()
    try:
        t0 = time.monotonic()
        silent = focus(
            "sync",
            env={"FOCUS_SYNC_URL": at(hole.port), "FOCUS_SYNC__CONNECT_TIMEOUT_SECONDS": "1"},
        )
        elapsed = time.monotonic() - t0
    finally:
        hole.listener.shutdown(socket.SHUT_RDWR)  # wakes its thread's accept() at once
        hole.close()
    message = assert_one_line_error(silent, 1)
    assert message == (
        f"focus: Postgres at 127.0.0.1:{hole.port} did not answer within 1 s (connect timeout)"
    )
    assert 1 <= elapsed < 1 + MARGIN, elapsed
    bad = focus("sync", env={"FOCUS_SYNC_URL": "mysql://x@y/z"})
    assert "scheme 'mysql'" in assert_one_line_error(bad, 2)
    for proc in (down, silent, bad):
        assert password not in proc.stderr
    status = focus.json("status")
    assert status["pending_changes"] == 2 and status["last_sync_at"] is None, status


def test_rejected_changes_are_listed_and_block_nothing(
    user: dict[str, Any], tmp_path: Path
) -> None:
    focus = make_focus(tmp_path / "device")
    focus.env["FOCUS_SYNC_URL"] = user["sync_url"]
    bad = focus.json("start", "--task", "tampered")["session"]
    focus.json("abandon")
    assert focus("sync", "--rejected").stdout == "No rejected changes.\n"
    db = sqlite3.connect(focus.db)  # both changes of the session, edited by hand
    try:
        with db:
            for m, payload in db.execute("SELECT mutation_id, payload FROM outbox").fetchall():
                edited = json.dumps(json.loads(payload) | {"planned_seconds": -60})
                db.execute("UPDATE outbox SET payload = ? WHERE mutation_id = ?", (edited, m))
    finally:
        db.close()
    good = focus.json("start", "--task", "fine")["session"]

    proc = focus("sync", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["pushed"], report["rejected"], report["pending"]) == (3, 1, 0)
    (rejection,) = report["rejections"]
    assert rejection["entity"] == "session" and rejection["entity_id"] == bad["id"]
    assert "planned" in rejection["reason"]
    lines = [x for x in proc.stderr.splitlines() if x.startswith("focus: rejected: ")]
    assert lines == [f"focus: rejected: session {bad['id']}: {rejection['reason']}"]

    listed = focus.json("sync", "--rejected")["rejected"]
    assert [(r["entity_id"], r["reason"]) for r in listed] == [(bad["id"], rejection["reason"])]
    text = focus("sync", "--rejected")
    assert text.returncode == 0 and text.stderr == ""
    assert f"change {rejection['mutation_id']}  session {bad['id']}: " in text.stdout

    # It blocked nothing: the good session synced; a second device has it, and only it.
    focus.json("complete")
    focus.json("start", "--mode", "short_break")
    focus.json("abandon")
    batches = synced(focus, env={"FOCUS_SYNC__BATCH_SIZE": "1"})
    assert (batches["pushed"], batches["batches"], batches["rejected"]) == (3, 3, 0)
    plain = focus("sync")
    assert (plain.returncode, plain.stderr) == (0, "")
    assert plain.stdout.startswith("pushed 0, pulled 0, rejected 0, pending 0; ")
    assert plain.stdout.endswith(" s\n") and "round trips in" in plain.stdout
    other = make_focus(tmp_path / "other")
    other.env["FOCUS_SYNC_URL"] = user["sync_url"]
    assert synced(other)["pulled"] == 2
    theirs = history_ids(other)
    assert good["id"] in theirs and set(theirs) == set(history_ids(focus)) - {bad["id"]}
    assert other.json("sync", "--rejected")["rejected"] == []
