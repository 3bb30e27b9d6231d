"""What a daily user of the CLI meets (issue 13): `focus edit`, the one-time word about a
session that ended while nothing ran, abandon reasons and filters in history, and the small
wordings; all through the installed `focus` command."""

from __future__ import annotations

import sqlite3

from tests.e2e.conftest import Focus, assert_one_line_error


def outbox_rows(focus: Focus) -> int:
    conn = sqlite3.connect(focus.db)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


# -- focus edit -------------------------------------------------------------------------


def test_edit_sets_the_title_and_tags_of_the_running_session(focus: Focus) -> None:
    started = focus.json("start", "--minutes", "25", "--task", "Draft", "--tag", "a")["session"]
    before = outbox_rows(focus)
    proc = focus("edit", "--task", "Write report", "--tag", "writing,work", "--tag", "#Deep")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('Edited: focus "Write report" #writing #work #deep · active')
    assert outbox_rows(focus) == before + 1  # one change for the other devices
    session = focus.json("status")["session"]
    assert (session["id"], session["task_title"], session["tags"]) == (
        started["id"],
        "Write report",
        ["writing", "work", "deep"],
    )
    assert session["version"] == started["version"] + 1


def test_edit_json_no_tags_and_a_paused_session(focus: Focus) -> None:
    focus.json("start", "--minutes", "25", "--task", "Draft", "--tag", "a")
    assert focus("pause").returncode == 0
    data = focus.json("edit", "--no-tags")["session"]
    assert (data["status"], data["task_title"], data["tags"]) == ("paused", "Draft", [])
    data = focus.json("edit", "--task", "")["session"]
    assert data["task_title"] is None


def test_edit_refusals_are_one_line(focus: Focus) -> None:
    message = assert_one_line_error(focus("edit", "--task", "x"), 1)
    assert message == "focus: cannot edit: no open session"
    focus.json("start", "--minutes", "25", "--task", "Keep")
    for args, needle in (
        ([], "nothing to change"),
        (["--tag", "a", "--no-tags"], "not allowed with"),
        (["--tag", "two words"], "one word"),
        (["--task", "x" * 201], "longer than 200"),
    ):
        message = assert_one_line_error(focus("edit", *args), 2)
        assert needle in message, message
    assert focus.json("status")["session"]["task_title"] == "Keep"


def test_edit_is_in_the_help(focus: Focus) -> None:
    listed = focus("--help").stdout
    assert "edit" in listed
    text = focus("edit", "--help").stdout
    assert "--task" in text and "--tag" in text and "--no-tags" in text
