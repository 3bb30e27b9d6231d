"""Crash safety, by killing real processes with SIGKILL at random (seeded) points.

1. `focus sync` of two devices of one user, each with offline work to push (and the other's
   to pull) in small batches, killed again and again, restarted each time, with more offline
   work between the rounds; then a clean sync of each, twice. The server and both devices
   then agree exactly: every session once, in its last state; the same ledger, one award per
   paid session and none twice; every outbox row applied (the server's last change id of
   each device is the last id that device ever used); both files pass `integrity_check`.
2. `focus tracks upload` of 26 MiB files in 5 MiB parts (two at once), killed until each
   arrives (then the next file): every object is byte-exact (sha256), and the server, through
   a counting proxy, received fewer bytes than (kills + files) whole uploads, and no more
   than two parts lost to each kill: a killed upload resumes, it does not start over.
3. Lifecycle commands (start, pause, resume, extend, complete, abandon) killed at random:
   the database passes `integrity_check`, and no action is half applied.

Where the kills come from. A `focus` process spends most of its first half second importing
Python; a kill in that time proves nothing. Most kills here go to children forked from a
*zygote*: a process that imported the application once and then, on request, forks a child
that runs the real CLI entry point (`app.cli.main`) with the command's argv; the test
kills that child (a real process, killed from outside) at a random delay within the time
such a run takes (learnt from the runs that end by themselves). A few kills in each test go
to the installed `focus` console script itself, started afresh each time. The counts come
from the environment (the defaults are the CI run):

    FOCUS_KILLS            forked `focus sync` kills (default 200)
    FOCUS_LIFECYCLE_KILLS  forked lifecycle command kills (default 60)
    FOCUS_UPLOAD_KILLS     forked `focus tracks upload` kills (default 10)
    FOCUS_EXEC_KILLS       kills of the `focus` script itself, in each test (default 6)
    FOCUS_KILL_SEED        the random seed (default 14)

The longer run, one command:

    FOCUS_KILLS=2000 FOCUS_LIFECYCLE_KILLS=500 FOCUS_UPLOAD_KILLS=100 FOCUS_EXEC_KILLS=50 \
        .venv/bin/python -m pytest -s tests/reliability/test_kills.py
"""

from __future__ import annotations

import hashlib
import http.client
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
import wave
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.clock import FakeClock
from app.domain.models import Mode, Session
from app.services import FocusService, TimerRules
from storage.local import open_repository
from tests.e2e.conftest import FOCUS, isolated_env
from tests.sync.conftest import Device, check_consistent, server_view

pytestmark = pytest.mark.postgres

ZONE = ZoneInfo("UTC")
ROOT = Path(__file__).parents[2]
KILLS = int(os.environ.get("FOCUS_KILLS", "200"))
EXEC_KILLS = int(os.environ.get("FOCUS_EXEC_KILLS", "6"))
LIFECYCLE_KILLS = int(os.environ.get("FOCUS_LIFECYCLE_KILLS", "60"))
SEED = int(os.environ.get("FOCUS_KILL_SEED", "14"))
KILLED = -signal.SIGKILL

ZYGOTE = r"""
import os, sys
import app.bootstrap, app.cli, app.cli.sessions, app.cli.sync, app.cli.tracks
import asyncpg, aiosqlite, boto3, sqlalchemy.ext.asyncio
import storage.local, storage.postgres, storage.r2, storage.sync, storage.sync.push
from app.cli import main

err_path = sys.argv[1]
while True:
    line = sys.stdin.readline()
    if not line:
        break
    command, _, rest = line.rstrip("\n").partition(" ")
    if command == "run":
        pid = os.fork()
        if pid == 0:
            null = os.open(os.devnull, os.O_RDWR)
            err = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(err, 2)
            code = 70
            try:
                code = main(rest.split("\t"))
            finally:
                os._exit(code)
        print(pid, flush=True)
    elif command == "wait":
        _, status = os.waitpid(int(rest), 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
"""


class Zygote:
    """A process that imported `focus` once and forks a child per command (see above)."""

    def __init__(self, env: dict[str, str], err: Path) -> None:
        self.err = err
        self.proc = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE, str(err)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    def _ask(self, line: str) -> int:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(line + "\n")
        stdin.flush()
        answer = stdout.readline()
        assert answer, "the zygote died"
        return int(answer)

    def run(self, argv: list[str], kill_after: float | None) -> int:
        """The command in a forked child, killed after `kill_after` seconds if still
        running (None: never); its exit code (-9: killed)."""
        pid = self._ask("run " + "\t".join(argv))
        if kill_after is not None:
            time.sleep(kill_after)
            os.kill(pid, signal.SIGKILL)  # a child that ended already is a zombie: no-op
        return self._ask(f"wait {pid}")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def run_exec(argv: list[str], env: dict[str, str], kill_after: float | None, err: Path) -> int:
    """The installed `focus` script itself, killed after `kill_after` seconds if running."""
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [str(FOCUS), *argv], stdout=subprocess.DEVNULL, stderr=stderr, env=env, cwd=ROOT
        )
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        return proc.wait(timeout=60)


@dataclass
class Tally:
    kills: int = 0
    """Children that were running when the SIGKILL came."""
    finished: int = 0
    """Children that ended by themselves before their kill."""
    exec_kills: int = 0
    working: float = 0.0
    """Seconds spent making offline work between the kills."""
    started: float = field(default_factory=time.monotonic)

    def note(self, code: int, err: Path, allowed: tuple[int, ...] = (0,)) -> None:
        if code == KILLED:
            self.kills += 1
        else:
            assert code in allowed, (code, err.read_text()[-2000:])
            self.finished += 1

    def report(self, what: str) -> str:
        took = time.monotonic() - self.started
        return (
            f"{what}: {self.kills} kills ({self.exec_kills} of the `focus` script itself), "
            f"{self.finished} runs ended by themselves, {took:.1f} s "
            f"({self.working:.1f} s of it making offline work)"
        )


# -- 1. focus sync ---------------------------------------------------------------------------


@dataclass
class Offline:
    """One device's offline work, made in this process through the real service layer
    between the kills (never while a child runs), with a clock of its own in the past."""

    name: str
    path: Path
    clock: FakeClock
    made: dict[uuid.UUID, Session] = field(default_factory=dict)
    """Every session this device made, in its last state here."""

    async def work(self, rng: random.Random, sessions: int) -> None:
        # Reopened each time: a killed sync may have adopted the file meanwhile.
        repo = await open_repository(self.path, ZONE, self.clock.now())
        try:
            service = FocusService(repo, self.clock, ZONE, TimerRules())
            for _ in range(sessions):
                await self.one(service, rng)
        finally:
            await repo.close()

    async def one(self, service: FocusService, rng: random.Random) -> None:
        mode = rng.choice([Mode.FOCUS, Mode.FOCUS, Mode.SHORT_BREAK, Mode.LONG_BREAK])
        s = await service.start(mode=mode, minutes=rng.choice([3, 5]), task=self.name)
        self.clock.advance(seconds=rng.randint(20, 90))
        if rng.random() < 0.4:
            await service.pause()
            self.clock.advance(seconds=rng.randint(5, 60))
            await service.resume()
        if rng.random() < 0.3:
            await service.extend(1)
        self.clock.advance(seconds=rng.randint(10, 60))
        if rng.random() < 0.8:
            s = (await service.complete()).session
        else:
            s = await service.abandon("killed test")
        self.made[s.id] = s
        self.clock.advance(seconds=rng.randint(5, 120))


def sync_env(home: Path, user: dict[str, Any], batch: int) -> dict[str, str]:
    return isolated_env(home) | {
        "FOCUS_SYNC_URL": user["sync_url"],
        "FOCUS_SYNC__BATCH_SIZE": str(batch),
        "FOCUS_SYNC__CONNECT_TIMEOUT_SECONDS": "10",
    }


def figures(*parts: str) -> None:
    """The run's figures, on stderr (`pytest -s` shows them)."""
    sys.stderr.write(" ".join(parts) + "\n")


def sync_argv(device: Offline) -> list[str]:
    return ["--db", str(device.path), "sync", "--json"]


def pending(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def last_mutation_id(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0
    finally:
        db.close()


async def test_sync_killed_at_random_points_loses_nothing_and_pays_once(
    tmp_path: Path, reliability_db: str, sync_user: dict[str, Any]
) -> None:
    rng = random.Random(SEED)
    home = tmp_path / "home"
    home.mkdir()
    env = sync_env(home, sync_user, batch=5)
    begin = datetime.now(UTC) - timedelta(days=1)
    laptop = Offline("laptop", tmp_path / "laptop.db", FakeClock(begin))
    phone = Offline("phone", tmp_path / "phone.db", FakeClock(begin + timedelta(minutes=7)))
    both = (laptop, phone)
    err = tmp_path / "child.err"
    tally = Tally()

    # How long a run takes, forked and as the script itself: alone, and per change to push.
    for device in both:
        await device.work(rng, 12)
    t0 = time.monotonic()
    assert run_exec(sync_argv(laptop), env, None, err) == 0, err.read_text()
    whole = time.monotonic() - t0
    zygote = Zygote(env, err)
    try:
        rows = pending(phone.path)
        t0 = time.monotonic()
        tally.note(zygote.run(sync_argv(phone), None), err)
        loaded = time.monotonic() - t0
        t0 = time.monotonic()
        tally.note(zygote.run(sync_argv(phone), None), err)
        base = time.monotonic() - t0
        per_row = max(0.001, (loaded - base) / rows)
        while tally.kills < KILLS:
            device = rng.choice(both)
            if pending(device.path) < 12:
                t0 = time.monotonic()
                await device.work(rng, rng.randint(3, 6))
                tally.working += time.monotonic() - t0
            rows = pending(device.path)
            window = base + per_row * rows
            t0 = time.monotonic()
            code = zygote.run(sync_argv(device), rng.uniform(0, 0.8 * window))
            tally.note(code, err)
            if code != KILLED:  # the estimate was long: learn from the run that finished
                per_row = 0.5 * per_row + 0.5 * max(0.0005, (time.monotonic() - t0 - base) / rows)
        started = whole - base  # the script's own start-up, before it syncs
        while tally.exec_kills < EXEC_KILLS:
            device = rng.choice(both)
            if pending(device.path) < 20:
                await device.work(rng, rng.randint(5, 10))
            window = 1.1 * (base + per_row * pending(device.path))
            delay = rng.uniform(max(0.0, started - 0.1), started + window)
            code = run_exec(sync_argv(device), env, delay, err)
            tally.note(code, err)
            tally.exec_kills += code == KILLED
    finally:
        zygote.close()
    figures(
        tally.report("focus sync"),
        f"(a forked run: {base:.2f} s + {per_row * 1000:.1f} ms a change;",
        f"the script {whole:.2f} s)",
    )

    # A clean sync of each, twice: the second brings each the other's last changes.
    for device in (laptop, phone, laptop, phone):
        assert run_exec(sync_argv(device), env, None, err) == 0, err.read_text()
    await agree_exactly(both, reliability_db, sync_user)
    assert tally.kills >= KILLS


async def agree_exactly(both: tuple[Offline, ...], admin: str, user: dict[str, Any]) -> None:
    made = {sid: s for device in both for sid, s in device.made.items()}
    server = await server_view(admin, user)
    assert set(server.sessions) == set(made), "every session on the server, once"
    for sid, session in made.items():
        row = server.sessions[sid]
        assert (row["status"], row["version"], row["xp_awarded"], row["coins_awarded"]) == (
            session.status.value,
            session.version,
            session.xp_awarded,
            session.coins_awarded,
        ), sid
    paid = {f"{s.mode.value}_complete:{s.id}": s for s in made.values() if s.xp_awarded}
    assert set(server.ledger) == set(paid), "one award per paid session, no other"
    for key, entry in server.ledger.items():
        assert (entry["xp"], entry["coins"]) == (paid[key].xp_awarded, paid[key].coins_awarded)
    twice = await admin_rows(
        admin,
        "SELECT session_id FROM ledger WHERE user_id = $1 GROUP BY session_id HAVING count(*) > 1",
        uuid.UUID(user["user_id"]),
    )
    assert twice == [], "no session paid twice"
    assert server.rejections == []
    views = []
    for offline in both:
        assert integrity(offline.path) == "ok", offline.name
        repo = await open_repository(offline.path, ZONE, datetime.now(UTC))
        try:
            clock = FakeClock(datetime.now(UTC))
            device = Device(
                offline.name, offline.path, repo, FocusService(repo, clock, ZONE), clock, user
            )
            assert await repo.pending_changes() == 0, f"{offline.name}: outbox left"
            assert server.clients[repo.identity.client_id] == last_mutation_id(offline.path), (
                f"{offline.name}: the server applied every change this device ever made"
            )
            here = await device.sessions()
            assert here == {sid: made_or(here[sid], made[sid]) for sid in made}
            assert set(here) == set(made)
            keys = [r[0] for r in await repo.conn.fetch("SELECT idempotency_key FROM ledger", {})]
            assert sorted(keys) == sorted(paid), f"{offline.name}: the same ledger"
            await check_consistent(device)
            views.append(await device.view())
        finally:
            await repo.close()
    assert all(v == views[0] for v in views), "every device shows the same stats and sessions"
    assert views[0][1] == sum(s.xp_awarded for s in made.values())


def made_or(here: Session, made: Session) -> Session:
    """The session as a device holds it must be the one that made it, field for field,
    but for the change stamp the server gave it (which the maker never saw)."""
    assert (here.status, here.version, here.xp_awarded, here.focused, here.started_at) == (
        made.status,
        made.version,
        made.xp_awarded,
        made.focused,
        made.started_at,
    ), here.id
    return here


async def admin_rows(admin: str, sql: str, *args: Any) -> list[Any]:
    raw = await asyncpg.connect(admin)
    try:
        return list(await raw.fetch(sql, *args))
    finally:
        await raw.close()


# -- 2. focus tracks upload ------------------------------------------------------------------

MIB = 1 << 20
TRACK_MIB = 26
UPLOAD_KILLS = int(os.environ.get("FOCUS_UPLOAD_KILLS", "10"))


@dataclass
class Received:
    """What the S3 server was sent, through the counting proxy."""

    bytes: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def counting_proxy(target: str, seen: Received) -> ThreadingHTTPServer:
    """An HTTP proxy to `target` counting the request bytes it receives; a request whose
    body ends early (its sender was killed) is counted as far as it came, and dropped."""
    where = urlsplit(target)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with seen.lock:
                seen.bytes += len(body)
                seen.requests += 1
            if len(body) < length:
                self.close_connection = True
                return
            conn = http.client.HTTPConnection(where.netloc, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for k, v in answer.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            told = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", told or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def random_track(path: Path, mib: int) -> Path:
    """A WAV file of `mib` MiB of noise: every part differs, so a part out of place shows."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(os.urandom(mib * MIB - 44))
    return path


def parts_recorded(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM upload_parts").fetchone()[0])
    finally:
        con.close()


def track_state(db: Path) -> list[tuple[str, str | None, str]]:
    con = sqlite3.connect(db)
    try:
        return [
            (str(state), key, str(sha))
            for state, key, sha in con.execute("SELECT upload_state, r2_key, sha256 FROM tracks")
        ]
    finally:
        con.close()


def test_an_upload_killed_at_random_points_resumes_and_arrives_byte_exact(
    tmp_path: Path, s3_url: str, s3: Any
) -> None:
    rng = random.Random(SEED + 2)
    bucket = f"kills-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    seen = Received()
    proxy = counting_proxy(s3_url, seen)
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home) | {
        "FOCUS_R2__BUCKET": bucket,
        "FOCUS_R2__ENDPOINT_URL": f"http://127.0.0.1:{proxy.server_address[1]}",
        "FOCUS_R2_ACCESS_KEY_ID": "test",
        "FOCUS_R2_SECRET_ACCESS_KEY": "test",
        "FOCUS_TRACKS__PART_SIZE_MB": "5",
        "FOCUS_TRACKS__CONCURRENCY": "2",
    }
    db = tmp_path / "focus.db"
    err = tmp_path / "child.err"
    upload = ["--db", str(db), "tracks", "upload", "--json"]
    tally = Tally()
    midway = 0
    files: list[Path] = []
    zygote = Zygote(env, err)
    try:

        def add_track() -> None:
            path = random_track(tmp_path / f"noise-{len(files)}.wav", TRACK_MIB)
            files.append(path)
            assert zygote.run(["--db", str(db), "tracks", "add", str(path)], None) == 0, (
                err.read_text()
            )

        # One whole upload, unkilled: how long a whole one takes here.
        add_track()
        t0 = time.monotonic()
        assert zygote.run(upload, None) == 0, err.read_text()
        whole = time.monotonic() - t0
        sent_before = seen.bytes
        add_track()
        while tally.kills < UPLOAD_KILLS:
            if all(state == "uploaded" for state, _, _ in track_state(db)):
                add_track()  # the last one made it through its kills: the next
            # A kill anywhere in a whole upload's time (resumed ones are shorter).
            code = zygote.run(upload, rng.uniform(0, whole))
            tally.note(code, err, (0,))
            if code == KILLED and parts_recorded(db):
                midway += 1  # killed with parts sent and recorded: the next run resumes
        while tally.exec_kills < min(EXEC_KILLS, 4):
            if all(state == "uploaded" for state, _, _ in track_state(db)):
                add_track()
            code = run_exec(upload, env, rng.uniform(0.5, 0.5 + whole), err)
            tally.note(code, err, (0,))
            tally.exec_kills += code == KILLED
        assert zygote.run(upload, None) == 0, err.read_text()  # restarted until done
    finally:
        zygote.close()
        proxy.shutdown()
        proxy.server_close()
    states = track_state(db)
    assert [s for s, _, _ in states] == ["uploaded"] * len(files)
    for (_, key, sha), path in zip(states, files, strict=True):
        assert sha == hashlib.sha256(path.read_bytes()).hexdigest()
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha, f"{key}: not the file's bytes"
    size = TRACK_MIB * MIB
    killed_files = len(files) - 1
    sent = seen.bytes - sent_before
    figures(
        tally.report("focus tracks upload"),
        f"({killed_files} files of {TRACK_MIB} MiB uploaded through the kills, "
        f"{sent / MIB:.1f} MiB received for {killed_files * TRACK_MIB} MiB; "
        f"{midway} kills with parts recorded; "
        f"a whole upload takes {whole:.2f} s)",
    )
    # Resumed, not started over: fewer bytes than (kills + 1) whole uploads of each file,
    # and at most the parts in flight (2 of 5 MiB) lost to each kill.
    assert midway > 0, "some kills came in the middle of an upload"
    assert sent < (tally.kills + killed_files) * size
    assert sent <= killed_files * size + (tally.kills + tally.finished) * 2 * 5 * MIB


# -- 3. lifecycle commands ---------------------------------------------------------------------

LIFECYCLE = [
    ["start", "--force", "--minutes", "25"],
    ["start", "--minutes", "5", "--mode", "short_break"],
    ["pause"],
    ["resume"],
    ["extend", "1"],
    ["complete"],
    ["complete"],
    ["abandon"],
]

HALF_APPLIED = {
    "a session whose last change has no outbox row": (
        "SELECT s.id FROM sessions AS s WHERE NOT EXISTS (SELECT 1 FROM outbox AS o "
        "WHERE o.entity = 'session' AND o.entity_id = s.id AND o.version = s.version)"
    ),
    "an award without its outbox row": (
        "SELECT l.id FROM ledger AS l WHERE NOT EXISTS (SELECT 1 FROM outbox AS o "
        "WHERE o.entity = 'ledger' AND o.entity_id = l.id)"
    ),
    "an award without its completed session, or not its reward": (
        "SELECT l.id FROM ledger AS l LEFT JOIN sessions AS s ON s.id = l.session_id "
        "WHERE s.id IS NULL OR s.status <> 'completed' OR s.xp_awarded <> l.xp "
        "OR s.coins_awarded <> l.coins"
    ),
    "a paid completion without its award": (
        "SELECT s.id FROM sessions AS s WHERE s.status = 'completed' AND "
        "(s.xp_awarded > 0 OR s.coins_awarded > 0) AND NOT EXISTS "
        "(SELECT 1 FROM ledger AS l WHERE l.session_id = s.id)"
    ),
    "a session paid twice": (
        "SELECT session_id FROM ledger GROUP BY session_id HAVING count(*) > 1"
    ),
    "two open sessions": (
        "SELECT client_id FROM sessions WHERE status IN ('active', 'paused') "
        "GROUP BY client_id HAVING count(*) > 1"
    ),
}


def whole_actions(path: Path) -> dict[str, int]:
    """Integrity and no half-applied action: raises on a failure; the table sizes."""
    assert integrity(path) == "ok"
    db = sqlite3.connect(path)
    try:
        for what, sql in HALF_APPLIED.items():
            assert db.execute(sql).fetchall() == [], what
        return {
            t: int(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("sessions", "ledger", "outbox")
        }
    finally:
        db.close()


async def open_one_earlier(path: Path, minutes: float) -> None:
    """A focus session started `minutes` ago (the CLI runs on the real clock: a session
    it completes has then been long enough to earn its reward)."""
    clock = FakeClock(datetime.now(UTC) - timedelta(minutes=minutes))
    repo = await open_repository(path, ZONE, clock.now())
    try:
        await FocusService(repo, clock, ZONE).start(minutes=25, task="earlier", force=True)
    finally:
        await repo.close()


async def test_lifecycle_commands_killed_leave_no_half_applied_action(tmp_path: Path) -> None:
    rng = random.Random(SEED + 3)
    home = tmp_path / "home"
    home.mkdir()
    env = isolated_env(home)
    db = tmp_path / "focus.db"
    err = tmp_path / "child.err"
    kills = LIFECYCLE_KILLS
    tally = Tally()
    ok_codes = (0, 1)  # 1: refused (nothing open to pause, ...), one line, nothing written
    await open_one_earlier(db, 20)
    zygote = Zygote(env, err)
    try:
        t0 = time.monotonic()
        tally.note(zygote.run(["--db", str(db), "status"], None), err)
        window = 1.5 * (time.monotonic() - t0)
        while tally.kills < kills:
            if rng.random() < 0.2:
                await open_one_earlier(db, rng.uniform(2, 20))
            argv = ["--db", str(db), *rng.choice(LIFECYCLE)]
            t0 = time.monotonic()
            code = zygote.run(argv, rng.uniform(0, window))
            tally.note(code, err, ok_codes)
            if code != KILLED:  # the window was long: learn from the run that finished
                window = 0.5 * window + 0.5 * (time.monotonic() - t0)
            whole_actions(db)
        while tally.exec_kills < EXEC_KILLS:
            argv = ["--db", str(db), *rng.choice(LIFECYCLE)]
            code = run_exec(argv, env, rng.uniform(0.2, 1.5), err)
            tally.note(code, err, ok_codes)
            tally.exec_kills += code == KILLED
            whole_actions(db)
    finally:
        zygote.close()
    sizes = whole_actions(db)
    figures(tally.report("lifecycle commands"), str(sizes))
    assert sizes["ledger"] > 0, "some of the completions were paid (the checks saw awards)"
    # The file still works as a store: the stats cache equals a recount of the sessions.
    repo = await open_repository(db, ZONE, datetime.now(UTC))
    try:
        clock = FakeClock(datetime.now(UTC))
        device = Device("cli", db, repo, FocusService(repo, clock, ZONE), clock, {})
        await check_consistent(device)
    finally:
        await repo.close()
    assert tally.kills >= kills
