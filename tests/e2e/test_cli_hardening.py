"""Hostile input and hostile outputs for the installed `focus`: bytes that are not UTF-8,
terminal escapes in stored text, CSV formulas, export targets that must not be replaced, and
standard output that is closed, full or gone."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import FOCUS, Focus, assert_one_line_error

# What a terminal would act on: C0 (but newline), DEL, C1, bidi controls, lone surrogates.
CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE = "\x1b[2J\x1b]52;c;ZXZpbA==\x07[bold]x\x9b31m\u202eevil"
"""Clears the screen, writes the clipboard (OSC 52), an 8-bit CSI and a right-to-left override."""


def run_bytes(focus: Focus, *args: str | bytes, **options: Any) -> subprocess.CompletedProcess[str]:
    """`focus --db DB ARGS` with argv given as bytes, so an argument can be any bytes at all."""
    argv = [os.fsencode(FOCUS), b"--db", os.fsencode(focus.db)]
    argv += [a if isinstance(a, bytes) else os.fsencode(a) for a in args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=focus.env,
        cwd=focus.home,
        timeout=60,
        check=False,
        **options,
    )


def sqlite_file(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    return path


# -- text that was not UTF-8 --------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        ([b"start", b"--minutes", b"1", b"--tag", b"\xff"], "--tag"),
        ([b"start", b"--task", b"caf\xe9"], "--task"),
        ([b"abandon", b"--reason", b"\xc3("], "--reason"),
        ([b"history", b"--before", b"\xfe\xff"], "--before"),
    ],
)
def test_text_that_is_not_utf8_is_refused_naming_the_option(
    focus: Focus, args: list[bytes], option: str
) -> None:
    message = assert_one_line_error(run_bytes(focus, *args), 2)
    assert message.startswith(f"focus: {option}: not valid UTF-8 text"), message
    assert not focus.db.exists()


def test_a_path_may_be_any_bytes_and_is_printed_safely(focus: Focus) -> None:
    odd = os.fsdecode(os.fsencode(focus.home) + b"/caf\xe9\x1b[2J.db")
    proc = run_bytes(focus, b"--db", os.fsencode(odd), b"start", b"--minutes", b"5")
    assert proc.returncode == 0, proc.stderr
    assert Path(odd).exists()
    shown = run_bytes(focus, b"--db", os.fsencode(odd), b"db", b"path")
    assert shown.returncode == 0 and not CONTROLS.search(shown.stdout), shown
    assert shown.stdout.rstrip().endswith("caf\\udce9\\x1b[2J.db")
    assert json.loads(run_bytes(focus, b"--db", os.fsencode(odd), b"db", b"path", b"--json").stdout)
    missing = run_bytes(focus, b"--db", b"/no/such/\xff\x1b]0;x\x07", b"start")
    assert not CONTROLS.search(assert_one_line_error(missing, 2))


def test_an_empty_db_path_is_refused(focus: Focus) -> None:
    for proc in focus.many([["--db", "", "status"], ["start", "--db", ""]], db=False):
        assert "--db: empty path" in assert_one_line_error(proc, 2)
    assert sorted(focus.home.iterdir()) == []


# -- escape sequences in stored text --------------------------------------------------------


def test_stored_escape_sequences_are_shown_escaped_and_kept_exact_in_json(focus: Focus) -> None:
    focus.json("start", "--minutes", "10", "--task", HOSTILE, "--tag", "\x1b[31mred")
    focus.json("abandon", "--reason", HOSTILE)
    focus.json("start", "--minutes", "10", "--task", HOSTILE)
    texts = focus.many([["status"], ["statusline"], ["history"], ["stats"]])
    for proc in texts:
        assert proc.returncode == 0 and proc.stderr == "", proc
        assert not CONTROLS.search(proc.stdout), (proc.args, proc.stdout)
        assert "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07[bold]x\\x9b31m\\u202eevil" in proc.stdout
    history, stats = texts[2].stdout, texts[3].stdout
    assert "#\\x1b[31mred" in history and "#\\x1b[31mred" in stats
    assert stats.count("\\u202eevil") == 2  # the top task and the abandon reason

    sessions = focus.json("history")["sessions"]
    assert [s["task_title"] for s in sessions] == [HOSTILE, HOSTILE]
    assert sessions[1]["abandon_reason"] == HOSTILE
    assert sessions[1]["tags"] == ["\x1b[31mred"]
    assert focus.json("status")["session"]["task_title"] == HOSTILE


# -- export: CSV formulas and what the output may be -----------------------------------------


def test_csv_cells_that_would_start_a_formula_are_quoted(focus: Focus) -> None:
    focus.json("start", "--minutes", "5", "--task", "=cmd|' /C calc'!A0", "--tag", "=1+1")
    focus.json("abandon", "--reason", "+SUM(A1:A9)")
    focus.json("start", "--minutes", "5", "--task", "@evil", "--tag=-x", "--tag", "ok")
    focus.json("complete")
    focus.json("start", "--minutes", "5", "--task", "plain - text =", "--tag", "fine")
    rows = list(csv.DictReader(io.StringIO(focus("export").stdout)))[::-1]  # oldest first
    assert [r["task_title"] for r in rows] == ["'=cmd|' /C calc'!A0", "'@evil", "plain - text ="]
    assert [r["tags"] for r in rows] == ["'=1+1", "'-x ok", "fine"]
    assert rows[0]["abandon_reason"] == "'+SUM(A1:A9)"
    # JSON is data for programs: exact.
    data = json.loads(focus("export", "--format", "json").stdout)[::-1]
    assert [s["task_title"] for s in data][:2] == ["=cmd|' /C calc'!A0", "@evil"]


@pytest.fixture
def exported(focus: Focus) -> Focus:
    focus.json("start", "--minutes", "5", "--task", "T")
    focus.json("complete")
    return focus


def test_export_never_replaces_the_database_or_any_sqlite_file(
    exported: Focus, tmp_path: Path
) -> None:
    focus = exported
    db = focus.db
    before = db.read_bytes()
    (tmp_path / "link.db").symlink_to(db)
    os.link(db, tmp_path / "hard.db")
    other = sqlite_file(focus.home / "contacts.sqlite")
    other_bytes = other.read_bytes()
    targets = [
        db,
        Path(f"{db}-wal"),
        Path(f"{db}-shm"),
        Path(f"{db}-journal"),
        tmp_path / "link.db",
        tmp_path / "hard.db",
        tmp_path / "sub" / ".." / db.name,
        other,
    ]
    (tmp_path / "sub").mkdir()
    commands = [["export", "--output", str(t), "--force"] for t in targets]
    commands.append(["export", "--format", "json", "--output", str(db), "--force"])
    for proc in focus.many(commands):
        message = assert_one_line_error(proc, 2)
        assert "database" in message, message
    assert db.read_bytes() == before
    assert other.read_bytes() == other_bytes
    assert (tmp_path / "link.db").is_symlink()
    assert not Path(f"{db}-journal").exists()


def test_export_to_stdout_devices_links_and_folders(exported: Focus, tmp_path: Path) -> None:
    focus = exported
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    real = tmp_path / "real.csv"
    real.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "new.csv")
    folder = tmp_path / "folder"
    folder.mkdir()
    dash, dev_stdout, null, to_link, to_dangling, to_folder, no_force = focus.many(
        [
            ["export", "--output", "-"],
            ["export", "--output", "/dev/stdout", "--force"],
            ["export", "--output", os.devnull],
            ["export", "--output", str(link), "--force"],
            ["export", "--output", str(dangling)],
            ["export", "--output", str(folder), "--force"],
            ["export", "--output", str(link)],
        ]
    )
    for proc in (dash, dev_stdout):
        assert proc.returncode == 0 and proc.stderr == "", proc
        assert proc.stdout.startswith("id,mode,") and len(proc.stdout.splitlines()) == 2
    assert not (focus.home / "-").exists()
    assert os.path.islink("/dev/stdout") or stat.S_ISCHR(os.stat("/dev/stdout").st_mode)
    assert null.returncode == 0 and null.stdout == f"Exported 1 sessions to {os.devnull}\n"
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert to_link.returncode == 0 and to_dangling.returncode == 0
    assert link.is_symlink() and dangling.is_symlink()
    assert real.read_text(encoding="utf-8").startswith("id,mode,")
    assert (tmp_path / "new.csv").read_text(encoding="utf-8").startswith("id,mode,")
    assert "is a directory" in assert_one_line_error(to_folder, 2)
    assert "--force" in assert_one_line_error(no_force, 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dangling.csv",
        "folder",
        "link.csv",
        "new.csv",
        "real.csv",
    ]


def test_export_writes_through_a_fifo(exported: Focus, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    proc = exported("export", "--format", "json", "--output", str(fifo))
    reader.join(timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(got[0])) == 1
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_device_is_one_line_and_exit_1(exported: Focus) -> None:
    message = assert_one_line_error(exported("export", "--output", "/dev/full", "--force"), 1)
    assert "/dev/full" in message and "No space left" in message
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [str(FOCUS), "--db", str(exported.db), "history"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=exported.env,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "No space left" in proc.stderr, proc.stderr


def test_json_picks_the_export_format_unless_format_is_given(
    exported: Focus, tmp_path: Path
) -> None:
    focus = exported
    as_json, as_csv = focus.many(
        [["export", "--json"], ["export", "--json", "--format", "csv", "--output", "-"]]
    )
    assert len(json.loads(as_json.stdout)) == 1
    assert as_csv.stdout.startswith("id,mode,")
    target = tmp_path / "out.csv"
    summary = focus.json("export", "--format", "csv", "--output", str(target))
    assert summary == {"output": str(target), "sessions": 1, "format": "csv"}
    assert target.read_text(encoding="utf-8").startswith("id,mode,")


# -- standard output that is closed, gone or full ----------------------------------------------


def test_a_closed_stdout_is_one_line(exported: Focus) -> None:
    proc = subprocess.run(
        [str(FOCUS), "--db", str(exported.db), "history"],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=exported.env,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.close(1),
    )
    assert proc.returncode == 2
    assert proc.stderr == "focus: standard output is closed\n"


def test_a_broken_pipe_says_nothing(exported: Focus) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [str(FOCUS), "--db", str(exported.db), "history"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=exported.env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 1
    assert proc.stderr == ""


# -- the last resort, in process ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (PermissionError(13, "Permission denied", "/x/y"), 2, "focus: Permission denied: /x/y\n"),
        (
            RuntimeError("boom \x1b[2J"),
            1,
            "focus: unexpected error: RuntimeError: boom \\x1b[2J "
            "(set FOCUS_DEBUG=1 for a traceback)\n",
        ),
    ],
)
def test_unexpected_errors_are_one_safe_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    code: int,
    line: str,
) -> None:
    import app.cli

    def fail(args: object) -> int:
        raise error

    monkeypatch.setattr(app.cli, "handler_for", lambda command: fail)
    assert app.cli.main(["stats"]) == code
    out, err = capsys.readouterr()
    assert (out, err) == ("", line)


def test_a_journal_name_is_never_made_a_database(focus: Focus) -> None:
    """`--db focus.db-wal` would create a database where SQLite looks for focus.db's WAL."""
    focus.json("start")
    before = focus.db.read_bytes()
    for suffix in ("-wal", "-shm", "-journal"):
        other = focus.db.with_name(focus.db.name + suffix)
        other.unlink(missing_ok=True)
        proc = focus("start", "--db", str(other), db=False)
        assert "not a name for a database" in assert_one_line_error(proc, 2)
        assert not other.exists(), suffix
    assert focus.db.read_bytes() == before
