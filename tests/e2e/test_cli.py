"""The installed `focus` command, run as a user would: in a subprocess, on a real file."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import FOCUS, Focus, assert_one_line_error, make_focus

SESSION_FIELDS = {
    "id",
    "mode",
    "status",
    "task_title",
    "tags",
    "duration_seconds",
    "remaining_seconds",
    "focused_seconds",
    "started_at",
    "ends_at",
    "completed_at",
    "xp_awarded",
    "coins_awarded",
}
TIMESTAMPS = ("started_at", "ends_at", "completed_at")


def instant(text: str) -> datetime:
    """An ISO 8601 timestamp that must carry its offset."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d", text), text
    value = datetime.fromisoformat(text)
    assert value.utcoffset() is not None, text
    return value


def check_session(s: dict[str, Any]) -> dict[str, Any]:
    assert set(s) >= SESSION_FIELDS, SESSION_FIELDS - set(s)
    for key in TIMESTAMPS:
        if s[key] is not None:
            instant(s[key])
    return s


def file_state(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def open_sessions(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(
            conn.execute(
                "SELECT count(*) FROM sessions WHERE status IN ('active', 'paused')"
            ).fetchone()[0]
        )
    finally:
        conn.close()


# -- the checks of the issue, in order ----------------------------------------------------


def test_start_pause_wait_resume_complete(focus: Focus) -> None:
    t0 = time.monotonic()
    started = check_session(focus.json("start", "--minutes", "1", "--task", "T")["session"])
    assert (started["mode"], started["status"], started["task_title"]) == ("focus", "active", "T")
    assert started["duration_seconds"] == 60
    assert 55 <= started["remaining_seconds"] <= 60
    assert started["focused_seconds"] == 0 and started["completed_at"] is None
    assert instant(started["ends_at"]) - instant(started["started_at"]) == timedelta(seconds=60)

    paused = check_session(focus.json("pause")["session"])
    assert paused["status"] == "paused" and paused["id"] == started["id"]
    time.sleep(3)
    still = check_session(focus.json("status")["session"])
    assert still["status"] == "paused"
    assert still["remaining_seconds"] == paused["remaining_seconds"]  # the pause spends nothing
    resumed = check_session(focus.json("resume")["session"])
    assert resumed["status"] == "active"
    assert resumed["remaining_seconds"] >= 57
    assert resumed["remaining_seconds"] >= paused["remaining_seconds"] - 1

    done = focus.json("complete")
    wall = time.monotonic() - t0
    session = check_session(done["session"])
    assert session["status"] == "completed" and session["id"] == started["id"]
    assert (session["xp_awarded"], session["coins_awarded"]) == (0, 0)
    assert session["focused_seconds"] <= wall - 3  # the 3 paused seconds are not focus
    instant(session["completed_at"])
    assert {"level", "leveled_up", "streak"} <= set(done)
    assert (done["level"], done["leveled_up"], done["streak"]) == (1, False, 0)

    # Never synced: every change since the start waits in the outbox (start, pause, resume,
    # complete; no ledger row for a completion without a reward).
    status = focus.json("status")
    assert status == {
        "session": None,
        "last_ending": None,  # completed by the user: nothing untold
        "pending_changes": 4,
        "last_sync_at": None,
    }


def test_a_session_that_ran_out_while_nothing_ran_is_settled_by_the_next_command(
    tmp_path: Path,
) -> None:
    # Two databases: one found within the grace window (one planned duration after the
    # end), one found beyond it.
    soon, late = make_focus(tmp_path / "soon"), make_focus(tmp_path / "late")
    starts = [
        soon.popen("start", "--minutes", "0.06", "--json"),  # 4 s (whole seconds); grace until 8 s
        late.popen("start", "--minutes", "0.01", "--json"),  # 0.6 s; grace until 1.2 s
    ]
    ids = [json.loads(p.communicate(timeout=60)[0])["session"]["id"] for p in starts]
    time.sleep(4)
    assert soon.json("status")["session"] is None
    assert late("statusline").stdout == ""
    (done,) = soon.json("history")["sessions"]
    assert (done["id"], done["status"], done["remaining_seconds"]) == (ids[0], "completed", 0)
    assert done["completed_at"] == done["ends_at"]  # completed at its end, not when found
    assert done["focused_seconds"] == done["duration_seconds"] == 4  # whole seconds
    (gone,) = late.json("history")["sessions"]
    assert (gone["id"], gone["status"], gone["xp_awarded"]) == (ids[1], "expired", 0)


def test_second_start_is_refused_and_force_abandons_the_old_one(focus: Focus) -> None:
    first = focus.json("start", "--minutes", "25", "--task", "first")["session"]
    proc = focus("start", "--minutes", "5")
    message = assert_one_line_error(proc, 1)
    assert "already active" in message and "--force" in message
    assert open_sessions(focus.db) == 1

    second = focus.json("start", "--force", "--mode", "short_break", "--task", "second")
    second = second["session"]
    assert second["id"] != first["id"] and second["mode"] == "short_break"
    sessions = focus.json("history")["sessions"]
    assert [(s["id"], s["status"]) for s in sessions] == [
        (second["id"], "active"),
        (first["id"], "abandoned"),
    ]
    assert sessions[1]["abandon_reason"] == "replaced by a new session"
    assert open_sessions(focus.db) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["start", "--minutes", "0"], "--minutes"),
        (["start", "--minutes", "-5"], "--minutes"),
        (["start", "--minutes=-5"], "--minutes"),
        (["start", "--minutes", "abc"], "abc"),
        (["start", "--minutes", "nan"], "--minutes"),
        (["start", "--minutes", "100000"], "at most 1440"),
        (["start", "--minutes", "inf"], "--minutes"),
        (["start", "--mode", "nap"], "nap"),
        (["start", "--bogus"], "--bogus"),
        (["--bogus", "status"], "--bogus"),
        (["frobnicate"], "frobnicate"),
        (["extend", "abc"], "abc"),
        (["extend"], "MINUTES"),
        (["history", "--limit", "0"], "--limit"),
        (["history", "--limit", "many"], "many"),
        (["export", "--format", "xml"], "xml"),
        (["config", "edit"], "edit"),
        (["db", "drop"], "drop"),
    ],
)
def test_bad_usage_is_exit_2_with_one_line(focus: Focus, args: list[str], needle: str) -> None:
    message = assert_one_line_error(focus(*args), 2)
    assert needle in message
    assert not focus.db.exists()  # refused before any database is touched


def test_a_bad_history_cursor_is_exit_2(focus: Focus) -> None:
    focus.json("db", "upgrade")
    assert "cursor" in assert_one_line_error(focus("history", "--before", "garbage"), 2)


def test_bad_usage_with_an_open_session_changes_nothing(focus: Focus) -> None:
    focus.json("start", "--minutes", "25")
    before = focus.json("status")["session"]
    for args in (["extend", "0"], ["extend", "-1"], ["start", "--minutes", "0", "--force"]):
        assert_one_line_error(focus(*args), 2)
    after = focus.json("status")["session"]
    assert (after["id"], after["duration_seconds"], after["status"]) == (
        before["id"],
        before["duration_seconds"],
        "active",
    )
    extended = focus.json("extend", "2")["session"]
    assert extended["duration_seconds"] == before["duration_seconds"] + 120
    assert extended["remaining_seconds"] > before["remaining_seconds"] + 100


# -- files that are not a Focus database --------------------------------------------------


def test_a_text_file_as_database_is_refused_and_left_unchanged(focus: Focus) -> None:
    notes = focus.home / "notes.txt"
    notes.write_text("shopping: milk, eggs\n", encoding="utf-8")
    before = file_state(notes)
    commands = [["start", "--minutes", "5"], ["status"], ["export"], ["db", "upgrade"]]
    for proc in focus.many([["--db", str(notes), *args] for args in commands], db=False):
        message = assert_one_line_error(proc, 2)
        assert str(notes) in message and "not a SQLite database" in message, proc.args
    assert file_state(notes) == before
    assert sorted(p.name for p in focus.home.iterdir()) == ["notes.txt"]


def test_other_unusable_database_paths(focus: Focus) -> None:
    other = focus.home / "contacts.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    before = file_state(other)
    message = assert_one_line_error(focus("--db", str(other), "start", db=False), 2)
    assert "not a Focus database" in message
    assert file_state(other) == before
    # A Focus database from a newer release: refused, not downgraded or touched.
    newer = focus.home / "newer.db"
    focus.json("--db", str(newer), "db", "upgrade", db=False)
    conn = sqlite3.connect(newer)
    conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    before = file_state(newer)
    for proc in focus.many(
        [["--db", str(newer), "status"], ["--db", str(newer), "start"]], db=False
    ):
        message = assert_one_line_error(proc, 2)
        assert "9999" in message and "newer" in message
    assert file_state(newer) == before
    folder = focus.home / "folder"
    folder.mkdir()
    message = assert_one_line_error(focus("--db", str(folder), "status", db=False), 2)
    assert "directory" in message and str(folder) in message


# -- configuration -------------------------------------------------------------------------


BAD_CONFIGS = [
    ("[timer]\nfocus_minuts = 30\n", "timer.focus_minuts"),
    ('[timer]\nfocus_minutes = "long"\n', "timer.focus_minutes"),
    ("[timer]\nfocus_minutes = 0\n", "timer.focus_minutes"),
    ("[colour]\ntheme = 1\n", "colour"),
]


def test_a_bad_config_is_exit_2_naming_the_file_and_the_key(focus: Focus) -> None:
    checks = []
    for n, (toml, key) in enumerate(BAD_CONFIGS):
        config = focus.home / f"my config {n}.toml"
        config.write_text(toml, encoding="utf-8")
        # Each file through another door: before or after the command, or the environment.
        doors: list[tuple[list[str], dict[str, str] | None]] = [
            (["--config", str(config), "start"], None),
            (["status", "--config", str(config)], None),
            (["config", "check"], {"FOCUS_CONFIG": str(config)}),
        ]
        args, env = doors[n % len(doors)]
        checks.append((args, env, config, key))
    procs = [focus.popen(*args, env=env) for args, env, _, _ in checks]
    for proc, (args, _, config, key) in zip(procs, checks, strict=True):
        out, err = proc.communicate(timeout=120)
        done = subprocess.CompletedProcess(args, proc.returncode, out, err)
        message = assert_one_line_error(done, 2)
        assert str(config) in message and key in message, (args, message)
    assert not focus.db.exists()


def test_a_missing_or_broken_config_file(focus: Focus) -> None:
    missing = focus.home / "nope.toml"
    message = assert_one_line_error(focus("--config", str(missing), "status"), 2)
    assert str(missing) in message
    broken = focus.home / "broken.toml"
    broken.write_text("[timer\n", encoding="utf-8")
    message = assert_one_line_error(focus("--config", str(broken), "status"), 2)
    assert str(broken) in message and "TOML" in message


def test_focus_db_and_focus_config_from_the_environment(focus: Focus) -> None:
    config = focus.home / "focus.toml"
    config.write_text("[timer]\nfocus_minutes = 50\nshort_break_minutes = 7\n", encoding="utf-8")
    env_db = focus.home / "from-env.db"
    env = {"FOCUS_DB": str(env_db), "FOCUS_CONFIG": str(config)}
    started = focus.json("start", db=False, env=env)["session"]
    assert started["duration_seconds"] == 50 * 60
    assert env_db.exists() and not focus.db.exists()
    assert focus.json("db", "path", db=False, env=env) == {"db_path": str(env_db), "exists": True}
    assert focus.json("config", "path", db=False, env=env) == {
        "config_path": str(config),
        "exists": True,
    }
    assert focus.json("config", "check", db=False, env=env) == {
        "ok": True,
        "config_path": str(config),
        "db_path": str(env_db),
    }
    assert focus.json("status", db=False, env=env)["session"]["id"] == started["id"]
    # --db wins over FOCUS_DB (and a reading command does not create it).
    message = assert_one_line_error(focus("status", env=env), 2)
    assert str(focus.db) in message and "does not exist" in message
    brk = focus.json("start", "--mode", "short_break", env=env)["session"]
    assert brk["duration_seconds"] == 7 * 60
    # A value from the environment overrides the file.
    again = focus.json("start", "--force", db=False, env=env | {"FOCUS_TIMER__FOCUS_MINUTES": "15"})
    assert again["session"]["duration_seconds"] == 15 * 60


def test_global_options_before_and_after_the_command(focus: Focus) -> None:
    db = str(focus.db)
    first = subprocess.run(
        [str(FOCUS), "--json", "--db", db, "start", "--minutes", "10"],
        capture_output=True,
        text=True,
        env=focus.env,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    sid = json.loads(first.stdout)["session"]["id"]
    for argv in (
        ["--db", db, "--json", "status"],
        ["status", "--db", db, "--json"],
        ["--db", db, "status", "--json"],
        ["--json", "status", "--db", db],
    ):
        proc = subprocess.run(
            [str(FOCUS), *argv], capture_output=True, text=True, env=focus.env, check=False
        )
        assert proc.returncode == 0, (argv, proc.stderr)
        assert json.loads(proc.stdout)["session"]["id"] == sid, argv


# -- no open session -----------------------------------------------------------------------


def test_status_with_no_session(focus: Focus) -> None:
    # Reading commands never create the database: a missing one is named, exit 2.
    for proc in focus.many([[c] for c in ("status", "statusline", "history", "stats", "export")]):
        message = assert_one_line_error(proc, 2)
        assert str(focus.db) in message and "does not exist" in message, proc.args
    assert not focus.db.exists()
    focus.json("db", "upgrade")
    assert focus.json("status") == {
        "session": None,
        "last_ending": None,
        "pending_changes": 0,
        "last_sync_at": None,
    }
    proc = focus("status")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "No open session.\n", "")
    proc = focus("statusline")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_actions_with_no_session_are_exit_1(focus: Focus) -> None:
    focus.json("db", "upgrade")
    commands = [
        ["pause"],
        ["resume", "--json"],
        ["complete"],
        ["abandon", "--json"],
        ["extend", "5"],
    ]
    for proc in focus.many(commands):
        message = assert_one_line_error(proc, 1)
        assert "no open session" in message, proc.args
    assert open_sessions(focus.db) == 0


# -- what was done: history, stats, export ----------------------------------------------


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[Focus, list[dict[str, Any]]]:
    """One database for the read-only checks below: a completed focus (A), an abandoned
    short break (B) and an active focus (C)."""
    focus = make_focus(tmp_path_factory.mktemp("done"))
    a = focus.json("start", "--minutes", "10", "--task", "A", "--tag", "x", "--tag", "Y,z")
    focus.json("complete")
    b = focus.json("start", "--mode", "short_break", "--task", "B")
    focus.json("abandon", "--reason", "doorbell")
    c = focus.json("start", "--minutes", "30", "--task", "C")
    return focus, [a["session"], b["session"], c["session"]]


def test_history_json_pages_what_was_done(done: tuple[Focus, list[Any]]) -> None:
    focus, (a, b, c) = done
    page = focus.json("history")
    assert page["next_cursor"] is None
    got = [(s["id"], s["task_title"], s["mode"], s["status"]) for s in page["sessions"]]
    assert got == [
        (c["id"], "C", "focus", "active"),
        (b["id"], "B", "short_break", "abandoned"),
        (a["id"], "A", "focus", "completed"),
    ]
    for s in page["sessions"]:
        check_session(s)
    assert page["sessions"][2]["tags"] == ["x", "y", "z"]
    assert page["sessions"][1]["abandon_reason"] == "doorbell"

    first = focus.json("history", "--limit", "2")
    assert [s["id"] for s in first["sessions"]] == [c["id"], b["id"]]
    assert first["next_cursor"]
    rest = focus.json("history", "--limit", "2", "--before", first["next_cursor"])
    assert [s["id"] for s in rest["sessions"]] == [a["id"]]
    assert rest["next_cursor"] is None
    only = focus.json("history", "--status", "abandoned")["sessions"]
    assert [s["id"] for s in only] == [b["id"]]
    text = focus("history")
    assert text.returncode == 0 and text.stdout.count("\n") == 1 + 3
    assert "abandoned" in text.stdout and "C" in text.stdout


def test_stats_json_counts_what_was_done(done: tuple[Focus, list[Any]]) -> None:
    focus, _ = done
    stats = focus.json("stats")
    # A completed within seconds: too short to count, apart from the completed ones and
    # out of the completion rate.
    for bucket in ("total", "today", "week"):
        counts = stats[bucket]
        assert (counts["completed"], counts["too_short"], counts["abandoned"]) == (0, 1, 1)
        assert counts["completion_rate"] == 0.0, bucket
    assert (stats["focus"]["completed"], stats["focus"]["too_short"]) == (0, 1)
    assert stats["focus"]["abandoned"] == 0 and stats["focus"]["completion_rate"] is None
    assert (stats["xp"], stats["coins"]) == (0, 0)  # seconds of focus earn nothing
    assert stats["level"]["level"] == 1
    assert stats["streak"]["current"] == 0
    assert {t["task"]: (t["completed"], t["abandoned"]) for t in stats["by_task"]} == {
        "A": (1, 0),
        "B": (0, 1),
    }
    assert {t["tag"] for t in stats["by_tag"]} == {"x", "y", "z"}
    assert stats["abandon_reasons"] == [{"reason": "doorbell", "count": 1}]
    text = focus("stats")
    assert text.returncode == 0 and text.stdout.startswith("Today")


def test_export_csv_and_json_return_every_session(done: tuple[Focus, list[Any]]) -> None:
    focus, sessions = done
    ids = [s["id"] for s in reversed(sessions)]
    proc = focus("export", "--format", "csv")
    assert proc.returncode == 0 and proc.stderr == ""
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["id"] for r in rows] == ids
    assert [r["task_title"] for r in rows] == ["C", "B", "A"]
    assert [r["status"] for r in rows] == ["active", "abandoned", "completed"]
    assert rows[2]["tags"] == "x y z"
    for row in rows:
        instant(row["started_at"])
    default = focus("export")
    assert default.returncode == 0 and default.stdout.splitlines()[0].startswith("id,")

    proc = focus("export", "--format", "json")
    assert proc.returncode == 0 and proc.stderr == ""
    data = json.loads(proc.stdout)
    assert [s["id"] for s in data] == ids
    for s in data:
        check_session(s)


def test_export_to_a_file_refuses_to_overwrite_without_force(
    done: tuple[Focus, list[Any]], tmp_path: Path
) -> None:
    focus, _ = done
    target = tmp_path / "out.json"
    summary = focus.json("export", "--format", "json", "--output", str(target))
    assert summary == {"output": str(target), "sessions": 3, "format": "json"}
    assert len(json.loads(target.read_text(encoding="utf-8"))) == 3

    precious = tmp_path / "precious.csv"
    precious.write_text("do not lose me\n", encoding="utf-8")
    before = file_state(precious)
    message = assert_one_line_error(focus("export", "--output", str(precious)), 1)
    assert str(precious) in message and "--force" in message
    assert file_state(precious) == before
    proc = focus("export", "--output", str(precious), "--force")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"Exported 3 sessions to {precious}\n"
    rows = list(csv.DictReader(io.StringIO(precious.read_text(encoding="utf-8"))))
    assert len(rows) == 3
    missing_dir = tmp_path / "no" / "such" / "dir.csv"
    message = assert_one_line_error(focus("export", "--output", str(missing_dir)), 2)
    assert "does not exist" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json", "precious.csv"]


def test_export_of_an_empty_history(focus: Focus) -> None:
    focus.json("db", "upgrade")
    assert json.loads(focus("export", "--format", "json").stdout) == []
    lines = focus("export", "--format", "csv").stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("id,")


# -- statusline and housekeeping -------------------------------------------------------------


def test_statusline_follows_the_session(focus: Focus) -> None:
    focus.json("start", "--minutes", "25", "--task", "Write")
    line = focus("statusline")
    assert line.returncode == 0 and line.stderr == ""
    assert line.stdout.startswith("▶ focus ") and line.stdout.rstrip().endswith("Write")
    assert line.stdout.count("\n") == 1
    focus.json("pause")
    paused = focus("statusline").stdout
    assert re.fullmatch(r"⏸ focus (25:00|24:5\d) Write\n", paused), paused
    data = focus.json("statusline")
    assert data["session"]["status"] == "paused"
    focus.json("abandon")
    assert focus("statusline").stdout == ""


def test_config_and_db_commands(focus: Focus) -> None:
    default_config = focus.home / ".config" / "focus" / "config.toml"
    assert focus.json("config", "path", db=False) == {
        "config_path": str(default_config),
        "exists": False,
    }
    checked = focus.json("config", "check")
    assert checked == {"ok": True, "config_path": str(default_config), "db_path": str(focus.db)}
    text = focus("config", "check")
    assert text.returncode == 0 and "defaults" in text.stdout

    default_db = focus.home / ".local" / "share" / "focus" / "focus.db"
    assert focus.json("db", "path", db=False) == {"db_path": str(default_db), "exists": False}
    assert focus.json("db", "path") == {"db_path": str(focus.db), "exists": False}
    first = focus.json("db", "upgrade")
    assert (first["from"], first["backup"]) == (None, None)
    head = first["to"]
    schema = sqlite3.connect(focus.db).execute("SELECT sql FROM sqlite_master").fetchall()
    assert focus.json("db", "upgrade") == {
        "db_path": str(focus.db),
        "from": head,
        "to": head,
        "backup": None,
    }
    assert sqlite3.connect(focus.db).execute("SELECT sql FROM sqlite_master").fetchall() == schema
    assert focus.json("db", "path") == {"db_path": str(focus.db), "exists": True}
    # An upgraded-but-unused file works as a store.
    assert focus.json("start", "--minutes", "5")["session"]["status"] == "active"


def test_version(focus: Focus) -> None:
    proc = focus("--version", db=False)
    assert proc.returncode == 0 and proc.stdout.startswith("focus ")


SUBCOMMANDS = [
    [],
    ["start"],
    ["edit"],
    ["pause"],
    ["resume"],
    ["extend"],
    ["complete"],
    ["abandon"],
    ["status"],
    ["history"],
    ["stats"],
    ["export"],
    ["statusline"],
    ["demo"],
    ["config"],
    ["db"],
]


def test_help_of_every_command_exits_0(focus: Focus) -> None:
    for proc in focus.many([[*args, "--help"] for args in SUBCOMMANDS]):
        assert proc.returncode == 0, (proc.args, proc.stderr)
        assert proc.stderr == "" and proc.stdout.startswith("usage: focus"), proc.args
    assert not focus.db.exists()
    listed = focus("--help").stdout
    for args in SUBCOMMANDS[1:]:
        assert args[0] in listed


# -- two processes at once --------------------------------------------------------------


@pytest.mark.parametrize("fresh", [True, False], ids=["new-file", "existing-file"])
def test_two_processes_starting_at_once_leave_one_open_session(focus: Focus, fresh: bool) -> None:
    if not fresh:
        focus.json("db", "upgrade")
    procs = [focus.popen("start", "--minutes", "5", "--task", f"p{i}") for i in range(3)]
    results = [(*p.communicate(timeout=60), p.returncode) for p in procs]
    codes = sorted(code for _, _, code in results)
    assert codes == [0, 1, 1], results
    for out, err, code in results:
        if code == 1:
            assert err.count("\n") == 1 and "Traceback" not in err and out == ""
    assert open_sessions(focus.db) == 1
    conn = sqlite3.connect(focus.db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    finally:
        conn.close()


def test_stats_text_counts_focus_sessions_and_breaks_apart(focus: Focus) -> None:
    focus("start", "--minutes", "5")
    assert focus("complete").returncode == 0  # within seconds: too short to count
    focus("start", "--mode", "short_break")
    assert focus("complete").returncode == 0
    data = focus.json("stats")
    assert (data["today"]["completed"], data["today"]["too_short"]) == (1, 1)
    assert (data["today_focus"]["completed"], data["today_focus"]["too_short"]) == (0, 1)
    today = next(line for line in focus("stats").stdout.splitlines() if line.startswith("Today"))
    assert "0 focus completed, 1 too short to count" in today and "1 break " in today
