"""`focus demo --headless` plays the whole script on throwaway stores and servers (the test
env has the demo extra: pgserver and moto), touches nothing of the user's, and removes
everything it started, also when interrupted."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FOCUS = Path(sys.executable).with_name("focus")
NOTICE = "Sync and upload steps need the demo extra: pip install 'focus-timer[demo]'"
LIFECYCLE = [
    "setup",
    "start",
    "pause",
    "still paused",
    "resume",
    "complete",
    "break",
    "break done",
    "distracted",
    "abandon",
    "unattended",
    "expired",
    "stats",
]
ONLINE = ["servers", "sync push", "sync pull", "histories", "track add", "upload", "dedupe"]


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (nobody may reap a daemon in a container)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _processes_under(folder: str) -> list[int]:
    """Live processes whose command line names `folder` (a postgres of that data dir)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if folder in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FOCUS), "demo", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_the_headless_demo_plays_every_step_against_real_servers(tmp_path: Path) -> None:
    marker = tmp_path / "hook-ran"
    config = tmp_path / "config.toml"
    config.write_text(f'[hooks]\nstart = "touch {marker}"\n', encoding="utf-8")
    db = tmp_path / "real.db"
    started = time.monotonic()
    argv = [str(FOCUS), "--config", str(config), "--db", str(db), "demo", "--headless"]
    proc = subprocess.run(
        [*argv, "--json", "--speed", "1000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    steps: list[dict[str, Any]] = [json.loads(line) for line in proc.stdout.splitlines()]
    names = [s["step"] for s in steps]
    assert names == [*LIFECYCLE, *ONLINE, "tracks synced"]
    step = {s["step"]: s for s in steps}
    assert all(s["text"] for s in steps)

    # The lifecycle: statuses and rewards.
    focus = step["start"]["session"]
    assert (focus["mode"], focus["status"], focus["planned_seconds"]) == ("focus", "active", 1500)
    paused, still = step["pause"]["session"], step["still paused"]["session"]
    assert paused["status"] == still["status"] == "paused"
    assert still["remaining_seconds"] == paused["remaining_seconds"]  # a pause spends nothing
    assert 0 < paused["remaining_seconds"] < 1500
    assert step["resume"]["session"]["status"] == "active"
    done = step["complete"]
    assert done["session"]["status"] == "completed" and done["session"]["id"] == focus["id"]
    assert done["session"]["paused_seconds"] >= 120 and done["session"]["focused_seconds"] == 1500
    assert done["xp"] == done["session"]["xp_awarded"] == 25 and done["coins"] > 0
    assert done["level"]["level"] == 1 and done["level"]["total_xp"] == 25
    brk = step["break"]["session"]
    assert brk["mode"] == "short_break" and brk["status"] == "active"
    assert step["break done"]["session"]["status"] == "completed"
    abandoned = step["abandon"]["session"]
    assert abandoned["id"] == step["distracted"]["session"]["id"]
    assert abandoned["status"] == "abandoned" and abandoned["abandon_reason"] == "phone call"
    assert abandoned["xp_awarded"] == abandoned["coins_awarded"] == 0
    expired = step["expired"]["session"]
    assert expired["id"] == step["unattended"]["session"]["id"]
    assert expired["status"] == "expired" and expired["xp_awarded"] == 0
    focus_stats = step["stats"]["stats"]["focus"]
    assert (focus_stats["completed"], focus_stats["abandoned"], focus_stats["expired"]) == (1, 1, 1)
    assert step["stats"]["stats"]["coins"] == done["coins"]

    # Sync: the server's rows, and both devices equal to them.
    ids = [step[n]["session"]["id"] for n in ("start", "break", "distracted", "unattended")]
    push = step["sync push"]
    assert push["sync"]["pushed"] > 0 and push["sync"]["rejected"] == 0
    assert push["server_sessions"] == 4 and push["server_session_ids"] == ids
    pull = step["sync pull"]
    assert pull["sync"]["pulled"] > 0 and pull["sync"]["pushed"] == 0
    same = step["histories"]
    assert same["equal"] is True
    assert same["device_session_ids"] == same["second_device_session_ids"] == ids
    assert same["server_session_ids"] == ids and same["server_sessions"] == 4

    # The upload (its HEAD on the server), then the same file deduplicated.
    added, up, again = step["track add"], step["upload"], step["dedupe"]
    assert added["upload_state"] == "pending" and added["size"] > 500_000
    assert up["deduplicated"] is False and up["upload_state"] == "uploaded"
    assert up["sent_bytes"] == up["size"] == up["head_content_length"] == added["size"]
    assert up["key"].endswith(added["sha256"])
    assert up["progress"][-1] == [added["size"], added["size"]]
    assert [p[0] for p in up["progress"]] == sorted(p[0] for p in up["progress"])
    assert again["sent_bytes"] == 0 and again["deduplicated"] is True
    assert again["key"] == up["key"] and again["head_content_length"] == added["size"]
    assert again["track_id"] != added["track_id"]
    server_tracks = step["tracks synced"]["server_tracks"]
    assert server_tracks == [{"upload_state": "uploaded", "r2_key": up["key"]}] * 2

    # Nothing left behind, nothing of the user's touched.
    assert not Path(step["setup"]["temp_dir"]).exists()
    assert not Path(step["setup"]["postgres_dir"]).exists()
    assert not _alive(step["servers"]["postgres_pid"])
    assert not db.exists() and not marker.exists()
    assert took < 30


def test_without_the_extra_the_offline_part_runs_and_one_line_says_what_adds_the_rest(
    tmp_path: Path,
) -> None:
    # The real detection path: pgserver and moto cannot be imported in this interpreter.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('pgserver', 'moto'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Blocked())\n",
        encoding="utf-8",
    )
    env = os.environ | {"PYTHONPATH": str(shim)}
    proc = _demo("--headless", "--speed", "1000", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].endswith("] " + NOTICE)
    assert sum(NOTICE in line for line in lines) == 1
    text = proc.stdout
    for seen in ("Started focus", "paused", "Resumed", "completed, +25 xp", "level 1"):
        assert seen in text, seen
    assert "Abandoned after 3 minutes (phone call)" in text and "expired, no reward" in text
    assert "synced" not in text and "Uploaded" not in text
    folder = lines[0].rsplit(" in ", 1)[1].rstrip(".")
    assert folder.startswith("/") and not Path(folder).exists()


def test_an_interrupted_demo_stops_its_postgres_and_removes_its_folders() -> None:
    # Ctrl-C (SIGINT; SIGTERM takes the same path, and the app's demo is tested with it in
    # test_demo_app.py).
    # `--json` alone runs the headless script; at 60x its lifecycle takes half a minute,
    # so the signal arrives while it plays and the servers start or run.
    proc = subprocess.Popen(
        [str(FOCUS), "demo", "--json", "--speed", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        setup = json.loads(proc.stdout.readline())
        assert setup["step"] == "setup"
        pg_dir, folder = setup["postgres_dir"], setup["temp_dir"]
        pid_file = Path(pg_dir) / "postmaster.pid"
        deadline = time.monotonic() + 30
        pid = 0
        while time.monotonic() < deadline and not pid:
            # Negative while the server is still starting (initdb, single-user mode).
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = max(0, int(pid_file.read_text().split()[0]))
            if not pid:
                time.sleep(0.1)
        assert pid and _alive(pid), "the demo's postgres never started"
        assert json.loads(proc.stdout.readline())["step"] == "start"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # the test failed early: let the demo clean up anyway
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert err.strip() == "focus: interrupted" or err.strip().endswith("interrupted"), err
    assert "Traceback" not in err
    assert not _alive(pid)
    assert _processes_under(pg_dir) == []
    assert not Path(pg_dir).exists() and not Path(folder).exists()


def test_demo_rejects_a_bad_speed() -> None:
    proc = _demo("--speed", "0")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "speed" in proc.stderr


def test_autoplay_and_headless_exclude_each_other() -> None:
    proc = _demo("--autoplay", "--headless")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "--headless" in proc.stderr or "--autoplay" in proc.stderr
