"""The installed `focus`, run as a user would, straight on Postgres (`[storage] url`).

Every command runs the session's whole life on the suite's server, logged in as a user that
`focus server add-user` made (row-level security in force); `--db` names a file that must
never appear. Bad Postgres input is one line on stderr with the documented exit code, within
the configured timeouts, and never shows a password.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import socket
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import UserFactory
from tests.e2e.conftest import Focus, assert_one_line_error, make_focus

pytestmark = pytest.mark.postgres

CONNECT_TIMEOUT = "FOCUS_STORAGE__CONNECT_TIMEOUT_SECONDS"
STATEMENT_TIMEOUT = "FOCUS_STORAGE__STATEMENT_TIMEOUT_SECONDS"
MARGIN = 3.0
"""What a failing command may take beyond its timeout: starting Python (a few tenths of a
second, more on a machine busy with other tests) and the half second the whole connect
attempt is allowed over it. A command that hung would take far longer."""


def on_server(root: Path, url: str) -> Focus:
    """A `focus` runner whose commands all go to `url` (FOCUS_STORAGE_URL); `--db` is still
    passed, naming a file that must never be created."""
    focus = make_focus(root)
    focus.env["FOCUS_STORAGE_URL"] = url
    return focus


def password_of(url: str) -> str:
    password = urlsplit(url).password
    assert password and len(password) >= 16, url
    return password


def with_netloc(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc.split('@')[1]}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_db(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def new_user(pg_user: UserFactory) -> dict[str, Any]:
    async def make() -> dict[str, Any]:
        return await pg_user()

    return asyncio.run(make())


@pytest.fixture
def user(pg_user: UserFactory) -> dict[str, Any]:
    """A Focus user on the test's own, initialized database."""
    return new_user(pg_user)


def no_secret(proc: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in proc.stdout and secret not in proc.stderr, (secret, proc.stderr)


# -- the lifecycle -------------------------------------------------------------------------


def finished_at(s: dict[str, Any]) -> datetime:
    end = s["completed_at"] or s["abandoned_at"] or s["expired_at"]
    assert end is not None, s
    return datetime.fromisoformat(end)


def bucket(sessions: list[dict[str, Any]], apart: bool = True) -> dict[str, Any]:
    """Stats counts recounted from exported sessions (focused time: completed focus only).
    `apart`: focus sessions completed in under a minute count apart (too short to count),
    as the totals and days do; tasks and tags count them with the completed ones."""
    completed = [s for s in sessions if s["status"] == "completed"]
    short = [s for s in completed if s["mode"] == "focus" and s["focused_seconds"] < 60]
    counted = len(completed) - len(short) if apart else len(completed)
    finished = counted + sum(s["status"] in ("abandoned", "expired") for s in sessions)
    return {
        "completed": counted,
        "too_short": len(short) if apart else 0,
        "abandoned": sum(s["status"] == "abandoned" for s in sessions),
        "expired": sum(s["status"] == "expired" for s in sessions),
        "focused_seconds": sum(s["focused_seconds"] for s in completed if s["mode"] == "focus"),
        "xp": sum(s["xp_awarded"] for s in sessions),
        "coins": sum(s["coins_awarded"] for s in sessions),
        "completion_rate": round(counted / finished, 4) if finished else None,
    }


def check_stats(stats: dict[str, Any], sessions: list[dict[str, Any]]) -> None:
    """`focus stats --json` equals what the sessions themselves say."""
    done = [s for s in sessions if s["status"] in ("completed", "abandoned", "expired")]
    focus = [s for s in done if s["mode"] == "focus"]
    assert stats["total"] == bucket(done)
    assert stats["focus"] == bucket(focus)
    days: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for s in focus:
        days[finished_at(s).astimezone(UTC).date()].append(s)
    assert stats["by_day"] == {d.isoformat(): bucket(ss) for d, ss in sorted(days.items())}
    tasks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    tags: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in done:
        if s["task_title"]:
            tasks[s["task_title"]].append(s)
        for tag in s["tags"]:
            tags[tag].append(s)
    assert {row.pop("task"): row for row in stats["by_task"]} == {
        k: bucket(v, apart=False) for k, v in tasks.items()
    }
    assert {row.pop("tag"): row for row in stats["by_tag"]} == {
        k: bucket(v, apart=False) for k, v in tags.items()
    }
    reasons = Counter(
        s["abandon_reason"] or "(no reason)" for s in done if s["status"] == "abandoned"
    )
    assert {r["reason"]: r["count"] for r in stats["abandon_reasons"]} == reasons
    xp = sum(s["xp_awarded"] for s in done)
    assert (stats["xp"], stats["coins"]) == (xp, sum(s["coins_awarded"] for s in done))
    assert stats["level"]["total_xp"] == xp


def all_pages(focus: Focus, limit: int) -> list[list[dict[str, Any]]]:
    """Every history page, following each printed `next_cursor` with `--before`."""
    pages: list[list[dict[str, Any]]] = []
    before: list[str] = []
    while True:
        page = focus.json("history", "--limit", str(limit), *before)
        if page["sessions"]:
            pages.append(page["sessions"])
        if page["next_cursor"] is None:
            return pages
        before = ["--before", page["next_cursor"]]
        assert len(pages) < 20, "the cursor never ran out"


async def start_earlier(url: str, minutes_ago: float, minutes: float, task: str) -> str:
    """A focus session of this user started `minutes_ago` (by another process of the same
    user, whose start was that long ago): the installed `focus` then completes it."""
    from app.clock import FakeClock
    from app.domain.models import Mode
    from app.services import FocusService
    from storage.postgres import open_pg_repository

    utc = ZoneInfo("UTC")
    clock = FakeClock(datetime.now(UTC) - timedelta(minutes=minutes_ago))
    repo = await open_pg_repository(url, utc)
    try:
        session = await FocusService(repo, clock, utc).start(Mode.FOCUS, minutes, task, ["deep"])
    finally:
        await repo.close()
    return str(session.id)


def test_every_command_runs_the_session_lifecycle_on_postgres(
    user: dict[str, Any], tmp_path: Path
) -> None:
    focus = on_server(tmp_path, user["sync_url"])
    started = focus.json("start", "--task", "Write the report", "--tag", "writing", "--tag", "ops")
    s = started["session"]
    assert (s["mode"], s["status"], s["task_title"]) == ("focus", "active", "Write the report")
    assert (s["tags"], s["duration_seconds"]) == (["writing", "ops"], 1500)
    assert 1490 <= s["remaining_seconds"] <= 1500

    status = focus.json("status")["session"]
    assert (status["id"], status["status"]) == (s["id"], "active")
    line = focus("statusline")
    assert line.returncode == 0 and line.stderr == ""
    assert "Write the report" in line.stdout and line.stdout.count("\n") == 1

    paused = focus.json("pause")["session"]
    assert (paused["id"], paused["status"], paused["pause_count"]) == (s["id"], "paused", 1)
    still = focus.json("status")["session"]
    assert (still["status"], still["remaining_seconds"]) == ("paused", paused["remaining_seconds"])
    resumed = focus.json("resume")["session"]
    assert resumed["status"] == "active"
    assert resumed["remaining_seconds"] >= paused["remaining_seconds"] - 1
    extended = focus.json("extend", "5")["session"]
    assert (extended["duration_seconds"], extended["extended_seconds"]) == (1800, 300)

    refused = focus("start", "--task", "another")
    message = assert_one_line_error(refused, 1)
    assert "already active" in message and "--force" in message
    assert focus.json("status")["session"]["id"] == s["id"]  # nothing changed

    done = focus.json("complete")
    assert (done["session"]["id"], done["session"]["status"]) == (s["id"], "completed")
    assert done["session"]["focused_seconds"] < 60
    assert (done["session"]["xp_awarded"], done["session"]["coins_awarded"]) == (0, 0)
    assert (done["level"], done["leveled_up"], done["total_xp"], done["streak"]) == (1, False, 0, 0)
    # The server is the shared store: nothing waits to be pushed, and it never syncs.
    assert focus.json("status") == {
        "session": None,
        "last_ending": None,  # completed by the user: nothing untold
        "pending_changes": 0,
        "last_sync_at": None,
    }
    idle = focus("statusline")
    assert (idle.returncode, idle.stdout, idle.stderr) == (0, "", "")

    first = focus.json("start", "--minutes", "10", "--task", "first")["session"]
    forced = focus.json("start", "--force", "--mode", "short_break")["session"]
    assert forced["id"] != first["id"] and forced["mode"] == "short_break"
    gone = focus.json("abandon", "--reason", "meeting ran over")["session"]
    assert (gone["id"], gone["status"]) == (forced["id"], "abandoned")
    assert gone["abandon_reason"] == "meeting ran over"

    # A session started 110 minutes ago, completed now: 110 focused minutes, level 2.
    earlier = asyncio.run(start_earlier(user["sync_url"], 110, 120, "Deep work"))
    big = focus.json("complete")
    assert big["session"]["id"] == earlier
    assert 110 * 60 <= big["session"]["focused_seconds"] < 111 * 60
    assert (big["session"]["xp_awarded"], big["session"]["coins_awarded"]) == (110, 22)
    assert (big["total_xp"], big["level"], big["new_level"], big["leveled_up"]) == (
        110,
        2,
        2,
        True,
    )
    assert (big["streak"], big["longest_streak"]) == (1, 1)

    history = focus.json("history")
    sessions = history["sessions"]
    assert history["next_cursor"] is None
    assert [x["id"] for x in sessions] == [forced["id"], first["id"], s["id"], earlier]
    assert [x["status"] for x in sessions] == ["abandoned", "abandoned", "completed", "completed"]
    assert sessions[1]["abandon_reason"] == "replaced by a new session"
    starts = [datetime.fromisoformat(x["started_at"]) for x in sessions]
    assert starts == sorted(starts, reverse=True)  # newest first: the earlier one is last

    pages = all_pages(focus, 3)
    assert [len(p) for p in pages] == [3, 1]
    assert [x["id"] for p in pages for x in p] == [x["id"] for x in sessions]
    assert [len(p) for p in all_pages(focus, 1)] == [1, 1, 1, 1]

    stats = focus.json("stats")
    check_stats(stats, sessions)
    assert stats["total"]["completed"] == 1 and stats["total"]["abandoned"] == 2
    assert stats["total"]["too_short"] == 1  # the first, completed within a minute
    assert stats["level"]["level"] == 2 and stats["streak"]["current"] == 1

    exported = json.loads(focus("export", "--format", "json").stdout)
    assert [x["id"] for x in exported] == [x["id"] for x in sessions]
    assert [x["xp_awarded"] for x in exported] == [0, 0, 0, 110]
    proc = focus("export", "--format", "csv")
    assert proc.returncode == 0 and proc.stderr == ""
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["id"] for r in rows] == [x["id"] for x in sessions]
    assert [r["status"] for r in rows] == [x["status"] for x in sessions]
    assert "writing" in rows[2]["tags"] and rows[3]["xp_awarded"] == "110"
    target = tmp_path / "sessions.json"
    summary = focus.json("export", "--format", "json", "--output", str(target))
    assert (summary["sessions"], summary["format"]) == (4, "json")
    assert [x["id"] for x in json.loads(target.read_text())] == [x["id"] for x in sessions]

    assert not focus.db.exists(), "--db names a file that the url makes irrelevant"
    assert not (focus.home / ".local" / "share").exists(), "nothing was created in the data dir"
    # This machine's own state (which ending it told) is its one small file.
    state = focus.home / ".local" / "state" / "focus"
    files = [p.name for p in state.iterdir()]
    assert len(files) == 1 and files[0].startswith("device-"), files


def test_storage_url_from_a_config_file_given_with_config(
    user: dict[str, Any], tmp_path: Path
) -> None:
    focus = make_focus(tmp_path)
    config = tmp_path / "focus.toml"
    config.write_text(f'[storage]\nurl = "{user["sync_url"]}"\nconnect_timeout_seconds = 5\n')
    run = ("--config", str(config))
    check = focus("config", "check", *run)
    assert check.returncode == 0, check.stderr
    no_secret(check, password_of(user["sync_url"]))

    s = focus.json("start", "--task", "from the file", *run)["session"]
    assert focus.json("status", *run)["session"]["id"] == s["id"]
    assert "from the file" in focus("statusline", *run).stdout
    assert focus.json("pause", *run)["session"]["status"] == "paused"
    assert focus.json("resume", *run)["session"]["status"] == "active"
    done = focus.json("complete", *run)
    assert done["session"]["id"] == s["id"] and done["level"] == 1
    (only,) = focus.json("history", *run)["sessions"]
    assert (only["id"], only["status"]) == (s["id"], "completed")

    # Without the file, --db names a local file again (one that does not exist).
    assert not focus.db.exists()
    proc = focus("history", "--db", str(tmp_path / "local.db"), db=False)
    assert "local.db does not exist" in assert_one_line_error(proc, 2)
    total = focus.json("stats", *run)["total"]
    assert (total["completed"], total["too_short"]) == (0, 1)  # completed within a minute


def test_two_users_on_one_server_each_see_only_their_own(
    pg_user: UserFactory, tmp_path: Path
) -> None:
    alice, bob = new_user(pg_user), new_user(pg_user)
    a, b = on_server(tmp_path / "a", alice["sync_url"]), on_server(tmp_path / "b", bob["sync_url"])

    mine = a.json("start", "--task", "alice's", "--tag", "a")["session"]
    theirs = b.json("start", "--task", "bob's")["session"]  # not refused by alice's session
    assert b.json("status")["session"]["id"] == theirs["id"]
    assert a.json("status")["session"]["id"] == mine["id"]
    a.json("complete")
    assert b.json("status")["session"]["id"] == theirs["id"]  # still open
    b.json("abandon", "--reason", "bob's reason")

    for runner, own, other in ((a, mine, theirs), (b, theirs, mine)):
        history = runner.json("history")["sessions"]
        assert [s["id"] for s in history] == [own["id"]]
        exported = json.loads(runner("export", "--format", "json").stdout)
        assert [s["id"] for s in exported] == [own["id"]]
        csv_out = runner("export").stdout
        assert own["id"] in csv_out and other["id"] not in csv_out
        stats = runner.json("stats")
        check_stats(stats, history)
        assert other["task_title"] not in json.dumps(stats)
    total = a.json("stats")["total"]
    assert (total["completed"], total["too_short"]) == (0, 1)  # completed within a minute
    assert b.json("stats")["total"]["abandoned"] == 1


def test_db_and_focus_db_are_irrelevant_when_the_url_is_set(
    user: dict[str, Any], tmp_path: Path
) -> None:
    focus = on_server(tmp_path, user["sync_url"])
    missing = tmp_path / "nowhere" / "missing.db"
    env = {"FOCUS_DB": str(missing)}
    # A read-only command on a named database that does not exist is an error locally;
    # with the url set, it reads the server.
    assert focus.json("history", db=False, env=env)["sessions"] == []
    s = focus.json("start", "--db", str(missing), db=False)["session"]
    for args in (["status"], ["status", "--db", str(missing)], ["statusline"]):
        proc = focus(*args, env=env)
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert focus.json("status", env=env)["session"]["id"] == s["id"]
    focus.json("abandon", env=env)
    assert not missing.parent.exists() and not focus.db.exists()
    assert not (focus.home / ".local" / "share").exists()  # no database in the data dir


# -- bad input: one line, the documented exit code, in time, no password -------------------


def run_timed(
    focus: Focus, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    proc = focus(*args, env=env)
    return proc, time.monotonic() - t0


COMMANDS = (["status"], ["statusline"], ["start", "--task", "x"], ["history"], ["stats"])
"""A read on the status bar's path, a write, and the other reads."""

SECRET = "Hunter2Secret0pw"


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("postgresql://", "needs a host"),
        (f"postgres://alice:{SECRET}@host:notaport/db", "port"),
        (f"mysql://x:{SECRET}@y/z", "scheme 'mysql'"),
        ("just some text, not a url", "expected a postgresql:// URL"),
        # A password with / # ? left unencoded ends the host early: its first part is then
        # read as the port, and must not be shown as one.
        (f"postgresql://alice:{SECRET[:6]}/{SECRET[6:]}@db.example/focus", "storage.url"),
        (f"postgresql://alice:{SECRET[:6]}#{SECRET[6:]}@db.example/focus", "storage.url"),
        (f"postgresql://alice:{SECRET}@db.example:99999/focus", "port"),
        (f"postgresql://alice:{SECRET}@127.0.0.1:5432/db?sslmode=bogus", "sslmode"),
    ],
)
def test_a_malformed_url_is_a_configuration_error(focus: Focus, url: str, needle: str) -> None:
    env = {"FOCUS_STORAGE_URL": url, CONNECT_TIMEOUT: "10", STATEMENT_TIMEOUT: "10"}
    for args in COMMANDS:
        proc, elapsed = run_timed(focus, *args, env=env)
        message = assert_one_line_error(proc, 2)
        assert needle in message, message
        no_secret(proc, SECRET, SECRET[:6], SECRET[6:])
        assert elapsed < 5, (args, elapsed)  # nothing to wait for
    assert not focus.db.exists()


def test_a_refused_login_is_a_configuration_error(
    user: dict[str, Any], pg_admin: str, pg_server: str, tmp_path: Path
) -> None:
    """A wrong password, an unknown role, a database that does not exist, one that was never
    `server init`-ed (logged in as a role that exists), and a role that logs in but is no
    Focus user (the admin, who would see every user's rows)."""
    from tests.pg import create_database

    bare = asyncio.run(create_database(pg_server))  # not the user's: no `server init` on it
    real = user["sync_url"]
    password = password_of(real)
    wrong = password[::-1]
    cases = [
        (with_netloc(real, user["role"], wrong), f"refused the password for role {user['role']}"),
        (with_netloc(real, "nobody_here", wrong), "refused the password for role nobody_here"),
        (with_db(real, "no_such_database"), "no database 'no_such_database'"),
        (with_db(real, database_of(bare)), "holds no Focus schema"),
        (pg_admin, f"role {urlsplit(pg_admin).username} is not a Focus user"),
    ]
    focus = make_focus(tmp_path)
    for url, needle in cases:
        env = {"FOCUS_STORAGE_URL": url, CONNECT_TIMEOUT: "10", STATEMENT_TIMEOUT: "10"}
        for args in COMMANDS:
            proc, elapsed = run_timed(focus, *args, env=env)
            message = assert_one_line_error(proc, 2)
            assert needle in message, (url, message)
            no_secret(proc, password, wrong)
            assert elapsed < 5, (url, args, elapsed)
    assert not focus.db.exists()


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_server_that_is_down_is_exit_1_at_once(focus: Focus) -> None:
    url = f"postgresql://alice:{SECRET}@127.0.0.1:{free_port()}/focus"
    env = {"FOCUS_STORAGE_URL": url, CONNECT_TIMEOUT: "20"}
    times = []
    for args in COMMANDS:
        proc, elapsed = run_timed(focus, *args, env=env)
        message = assert_one_line_error(proc, 1)
        assert message.startswith("focus: cannot reach Postgres at 127.0.0.1:"), message
        no_secret(proc, SECRET)
        times.append(elapsed)
    print(f"server down: {', '.join(f'{t:.2f}' for t in times)} s")  # noqa: T201
    assert max(times) < 5, times  # refused at once: nowhere near the 20 s connect timeout
    assert not focus.db.exists()


class BlackHole:
    """A 127.0.0.1 port that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


def test_a_port_that_never_answers_fails_within_the_connect_timeout(
    focus: Focus, black_hole: BlackHole
) -> None:
    url = f"postgresql://alice:{SECRET}@127.0.0.1:{black_hole.port}/focus"
    timeout = 1.0
    env = {"FOCUS_STORAGE_URL": url, CONNECT_TIMEOUT: str(timeout)}
    times = []
    for args in COMMANDS:
        before = len(black_hole.accepted)
        proc, elapsed = run_timed(focus, *args, env=env)
        message = assert_one_line_error(proc, 1)
        assert message == (
            f"focus: Postgres at 127.0.0.1:{black_hole.port} did not answer within 1 s "
            "(connect timeout)"
        )
        no_secret(proc, SECRET)
        assert len(black_hole.accepted) > before, "the command did reach the silent port"
        times.append(elapsed)
    print(f"black hole, {timeout:g} s connect timeout: {', '.join(f'{t:.2f}' for t in times)} s")  # noqa: T201
    assert min(times) >= timeout, times  # it did wait for an answer ...
    assert max(times) < timeout + MARGIN, times  # ... and no longer than the timeout allows


async def hold_lock(admin_url: str, started: threading.Event, release: asyncio.Event) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE sessions, user_state IN ACCESS EXCLUSIVE MODE")
            started.set()
            await release.wait()
    finally:
        await conn.close()


def test_a_statement_that_waits_fails_within_the_statement_timeout(
    user: dict[str, Any], pg_admin: str, tmp_path: Path
) -> None:
    """The server answers the login, but the tables are locked by another transaction."""
    focus = on_server(tmp_path, user["sync_url"])
    focus.json("start", "--task", "before the lock")
    loop = asyncio.new_event_loop()
    release = asyncio.Event()
    locked = threading.Event()
    holder = threading.Thread(
        target=loop.run_until_complete, args=(hold_lock(pg_admin, locked, release),)
    )
    holder.start()
    times = []
    try:
        assert locked.wait(timeout=30)
        env = {STATEMENT_TIMEOUT: "1", CONNECT_TIMEOUT: "10"}
        for args in (["status"], ["pause"], ["history"], ["stats"], ["export"]):
            proc, elapsed = run_timed(focus, *args, env=env)
            message = assert_one_line_error(proc, 1)
            assert "did not finish within 1 s (statement timeout)" in message, message
            no_secret(proc, password_of(user["sync_url"]))
            times.append(elapsed)
    finally:
        loop.call_soon_threadsafe(release.set)
        holder.join(timeout=30)
        loop.close()
    print(f"locked tables, 1 s statement timeout: {', '.join(f'{t:.2f}' for t in times)} s")  # noqa: T201
    assert min(times) >= 1 and max(times) < 1 + MARGIN, times
    # Nothing was changed by the refused pause; the lock gone, everything works again.
    assert focus.json("status")["session"]["status"] == "active"


def test_server_init_needs_the_admin_url(user: dict[str, Any], tmp_path: Path) -> None:
    focus = on_server(tmp_path, user["sync_url"])  # the client's url is set, and not used
    password = password_of(user["sync_url"])
    for action in (["init"], ["add-user", "carol"], ["expire-stale"]):
        proc = focus("server", *action)
        message = assert_one_line_error(proc, 2)
        assert message == "focus: no admin URL: pass --admin-url URL or set FOCUS_ADMIN_URL"
        no_secret(proc, password)

        proc, elapsed = run_timed(focus, "server", *action, "--admin-url", user["sync_url"])
        message = assert_one_line_error(proc, 2)
        assert f"role {user['role']} is a Focus client role" in message, message
        assert "admin URL" in message
        no_secret(proc, password)
        assert elapsed < 5
    # The client's url in FOCUS_ADMIN_URL is refused the same way.
    proc = focus("server", "init", env={"FOCUS_ADMIN_URL": user["sync_url"]})
    assert "is a Focus client role" in assert_one_line_error(proc, 2)
    no_secret(proc, password)


def test_server_init_with_a_bad_admin_url(focus: Focus, black_hole: BlackHole) -> None:
    for url, code, needle in (
        ("postgresql://", 2, "--admin-url: a postgresql:// URL needs a host"),
        (f"mysql://root:{SECRET}@db/focus", 2, "scheme 'mysql'"),
        (f"postgresql://root:{SECRET}@127.0.0.1:{free_port()}/focus", 1, "cannot reach"),
        (f"postgresql://root:{SECRET}@127.0.0.1:{black_hole.port}/focus", 1, "within 1 s"),
    ):
        proc, elapsed = run_timed(
            focus, "server", "init", "--admin-url", url, env={CONNECT_TIMEOUT: "1"}
        )
        assert needle in assert_one_line_error(proc, code)
        no_secret(proc, SECRET)
        assert elapsed < 1 + MARGIN, (url, elapsed)
