"""`focus edit` and the one-time word about an ending, straight on Postgres (`[storage]
url`): the client role may not write the server's meta table, so which ending was told is
kept in this machine's state folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import UserFactory
from tests.e2e.test_cli_postgres import new_user, on_server

pytestmark = pytest.mark.postgres


@pytest.fixture
def user(pg_user: UserFactory) -> dict[str, Any]:
    return new_user(pg_user)


def test_edit_and_an_ending_told_once_on_postgres(user: dict[str, Any], tmp_path: Path) -> None:
    focus = on_server(tmp_path, user["sync_url"])
    started = focus.json("start", "--minutes", "25", "--task", "Draft")["session"]
    edited = focus.json("edit", "--task", "Write report", "--tag", "deep")["session"]
    assert (edited["id"], edited["task_title"], edited["tags"]) == (
        started["id"],
        "Write report",
        ["deep"],
    )
    assert edited["version"] == started["version"] + 1
    assert focus.json("status")["session"]["task_title"] == "Write report"
    assert focus("edit", "--tag", "two words").returncode == 2

    focus.json("start", "--force", "--minutes", "0.02")  # 1 s; grace until 2 s
    time.sleep(2.5)
    assert focus("statusline").stdout == ""  # settled (expired) without a word
    told = focus("status").stdout.splitlines()
    assert told[0].startswith("Focus session expired: left unattended past "), told
    assert told[1] == "No open session."
    assert focus("status").stdout == "No open session.\n"
    assert focus.json("status")["last_ending"] is None
    state = focus.home / ".local" / "state" / "focus"
    assert len(list(state.glob("device-*.json"))) == 1
    assert not (focus.home / ".local" / "share").exists()
