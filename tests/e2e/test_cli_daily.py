"""What a daily user of the CLI meets (issue 13): `focus edit`, the one-time word about a
session that ended while nothing ran, abandon reasons and filters in history, and the small
wordings; all through the installed `focus` command."""

from __future__ import annotations

import sqlite3
import time

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


# -- a session that ended while nothing ran is told once ------------------------------------


def test_status_tells_once_of_a_session_the_status_bar_settled(focus: Focus) -> None:
    focus.json("start", "--minutes", "0.05", "--task", "Write")  # 3 s; grace until 6 s
    time.sleep(3.5)
    assert focus("statusline").stdout == ""  # the status bar settled it, silently
    told = focus("status")
    assert told.returncode == 0, told.stderr
    first, second = told.stdout.splitlines()
    assert first.startswith("Focus session completed at ")
    assert "too short to count" in first and first.endswith(': "Write".')
    assert second == "No open session."
    assert focus("status").stdout == "No open session.\n"  # once only
    assert focus.json("status")["last_ending"] is None


def test_an_expiry_is_told_once_in_json_and_by_the_next_start(focus: Focus) -> None:
    focus.json("start", "--minutes", "0.02")  # 1 s; grace until 2 s
    time.sleep(2.5)
    data = focus.json("status")
    ending = data["last_ending"]
    assert ending["session"]["status"] == "expired" and ending["session"]["xp_awarded"] == 0
    assert ending["message"].startswith("Focus session expired: left unattended past ")
    assert ending["message"].endswith(", no reward.")
    assert focus.json("status")["last_ending"] is None
    focus.json("start", "--minutes", "0.02", "--mode", "short_break")
    time.sleep(2.5)
    proc = focus("start", "--minutes", "25", "--task", "Next")
    told, started = proc.stdout.splitlines()
    assert told.startswith("Short break expired: left unattended past "), told
    assert started.startswith('Started focus "Next": 25:00')
    assert focus.json("status")["last_ending"] is None


def test_start_force_says_which_session_it_abandoned(focus: Focus) -> None:
    focus.json("start", "--minutes", "25", "--task", "first", "--tag", "a")
    proc = focus("start", "--force", "--mode", "short_break")
    abandoned, started = proc.stdout.splitlines()
    assert abandoned.startswith('Abandoned focus "first" #a started at ')
    assert abandoned.endswith("(no reward).")
    assert started.startswith("Started short break")
    data = focus.json("start", "--force", "--minutes", "10")
    assert data["replaced"]["mode"] == "short_break"
    assert data["replaced"]["abandon_reason"] == "replaced by a new session"
    assert data["session"]["status"] == "active"
    assert focus.json("status")["last_ending"] is None  # start told it


# -- history ----------------------------------------------------------------------------


def test_history_shows_abandon_reasons_and_keeps_its_filters_in_the_next_page(
    focus: Focus,
) -> None:
    for reason in ("meeting", "Phone call", "meeting"):
        focus.json("start", "--minutes", "25", "--task", "T")
        assert focus("abandon", "--reason", reason).returncode == 0
    focus.json("start", "--minutes", "5", "--mode", "short_break")
    assert focus("complete").returncode == 0
    proc = focus("history", "--status", "abandoned", "--mode", "focus", "--limit", "2")
    lines = proc.stdout.splitlines()
    assert lines[1].endswith("T · reason: meeting") and lines[2].endswith("reason: Phone call")
    more = lines[-1]
    assert more.startswith("More: focus history --before ")
    words = more.removeprefix("More: ").split()
    assert words[words.index("--status") + 1] == "abandoned"
    assert words[words.index("--mode") + 1] == "focus"
    assert words[words.index("--limit") + 1] == "2"
    # The printed command, run as printed, returns the next page of the same query.
    assert words[words.index("--db") + 1] == str(focus.db)
    nxt = focus(*words[1:], db=False)
    assert nxt.returncode == 0, nxt.stderr
    rows = nxt.stdout.splitlines()[1:]
    assert len(rows) == 1 and rows[0].endswith("reason: meeting")
    reasons = [s["abandon_reason"] for s in focus.json("history")["sessions"]]
    assert reasons == [None, "meeting", "Phone call", "meeting"]


def test_an_empty_filtered_page_says_so(focus: Focus) -> None:
    focus.json("db", "upgrade")
    assert focus("history").stdout == "No sessions yet.\n"
    focus.json("start", "--minutes", "25")
    proc = focus("history", "--status", "expired")
    assert proc.stdout == "No sessions match these filters.\n"
    assert focus("history", "--mode", "long_break").stdout == "No sessions match these filters.\n"


# -- stats ------------------------------------------------------------------------------


def test_stats_count_sub_minute_focus_apart_and_group_reasons_regardless_of_case(
    focus: Focus,
) -> None:
    focus.json("start", "--minutes", "25")
    done = focus("complete")
    assert "(under a minute: too short to count, no reward)" in done.stdout
    for reason in ("meeting", "Meeting", "call"):
        focus.json("start", "--minutes", "25")
        assert focus("abandon", "--reason", reason).returncode == 0
    data = focus.json("stats")
    for key in ("today_focus", "week_focus", "focus"):
        assert (data[key]["completed"], data[key]["too_short"], data[key]["abandoned"]) == (
            0,
            1,
            3,
        )
        assert data[key]["completion_rate"] == 0.0
    assert data["abandon_reasons"][0] == {"reason": "meeting", "count": 2}
    text = focus("stats").stdout
    assert "Today     0 focus completed, 1 too short to count, 3 abandoned" in text
    assert "Abandoned: meeting (2), call (1)" in text
    assert "0 coins" in text and "Streak 0 days" in text
