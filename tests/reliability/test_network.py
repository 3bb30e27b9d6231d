"""Network faults between a device and its servers, through a TCP proxy of the test's own in
front of the real Postgres (and of moto's S3 server): the proxy refuses (its port closed),
black-holes (accepts, forwards nothing, never answers), and cuts every connection mid-sync
(what a server restart does to its clients), then forwards again.

What must hold: the CLI's and the app's local commands keep working offline, the pending
count grows, a sync or an upload fails with one error within the configured timeouts
(real time is checked only as a generous upper bound) and resumes by itself once the server
is back (the next `focus sync`, the app's next retry, the next upload), with nothing lost
and nothing counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from app.clock import FakeClock
from app.domain.errors import FocusError, UnavailableError
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.pg_connect import Timeouts
from storage.r2 import R2, R2Settings
from storage.r2.calls import hash_file
from storage.sql import SqlRepository
from storage.sync import SyncTarget, sync
from tests.e2e.conftest import Focus, assert_one_line_error, make_focus

pytestmark = pytest.mark.postgres

UTC_ZONE = ZoneInfo("UTC")
SLACK = 15.0
"""Generous real-time slack over a configured timeout (a shared, busy CI machine)."""


# -- the proxy -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TcpProxy:
    """127.0.0.1:`port` in front of a server: forwards, refuses, black-holes or cuts.

    `cut_after` / `hole_after`: once that many bytes went from clients to the server, every
    connection is cut (a restart), or the proxy turns into a black hole (a network that
    drops everything from then on)."""

    upstream: Callable[[], socket.socket]
    port: int = field(default_factory=_free_port)
    mode: str = "forward"
    """forward | hole: what an accepted connection gets."""
    cut_after: int | None = None
    hole_after: int | None = None
    then_stop: bool = False
    """After the cut, the port closes too (the server stays down)."""
    sent: int = 0
    """Bytes clients sent through the proxy (to the server) since the last `reset`."""
    connections: int = 0
    _listener: socket.socket | None = None
    _open: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # states -----------------------------------------------------------------------------
    def start(self) -> None:
        """Listen (again) on the same port: connections are accepted."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """The port closed (connections refused at once), every connection cut."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        self.cut()

    def cut(self) -> None:
        """Every open connection closed under its client (the server went away)."""
        with self._lock:
            socks, self._open = self._open, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def forward(self) -> None:
        self.mode, self.cut_after, self.hole_after, self.then_stop = "forward", None, None, False
        self.start()

    def hole(self) -> None:
        self.mode = "hole"
        self.start()

    def reset(self) -> None:
        with self._lock:
            self.sent = 0
            self.connections = 0

    # workings ---------------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._open.append(client)
            if self.mode == "hole":
                threading.Thread(target=self._drain, args=(client,), daemon=True).start()
                continue
            try:
                server = self.upstream()
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.append(server)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while sock.recv(65536):
                pass

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while data := src.recv(65536):
                if self.mode == "hole":
                    continue  # dropped on the floor, and no answer ever comes
                if up:
                    with self._lock:
                        self.sent += len(data)
                        sent = self.sent
                    if self.cut_after is not None and sent > self.cut_after:
                        self.cut_after = None
                        self.stop() if self.then_stop else self.cut()
                        return
                    if self.hole_after is not None and sent > self.hole_after:
                        self.hole_after = None
                        self.mode = "hole"
                        continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if self.mode != "hole":
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)


def pg_upstream(url: str) -> Callable[[], socket.socket]:
    """A connection to the Postgres `url` names (its Unix socket folder, or host:port)."""
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "localhost"])[0]
    port = parts.port or 5432

    def connect() -> socket.socket:
        if host.startswith("/"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(f"{host}/.s.PGSQL.{port}")
            return s
        return socket.create_connection((host, port))

    return connect


def http_upstream(url: str) -> Callable[[], socket.socket]:
    parts = urlsplit(url)
    return lambda: socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80))


def through(url: str, proxy: TcpProxy) -> str:
    """The user's Postgres URL, through the proxy."""
    parts = urlsplit(url)
    auth = parts.netloc.rsplit("@", 1)[0]
    return f"postgresql://{auth}@127.0.0.1:{proxy.port}{parts.path}"


@pytest.fixture
def pg_proxy(reliability_db: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(pg_upstream(reliability_db))
    proxy.start()
    yield proxy
    proxy.stop()


# -- devices and what the server holds -----------------------------------------------------


async def offline_work(service: FocusService, clock: FakeClock, n: int) -> list[uuid.UUID]:
    """`n` completed focus sessions of 2-6 minutes, made with no server: their ids."""
    ids = []
    for i in range(n):
        await service.start(minutes=2 + i % 5, task=f"task {i}", tags=("net",))
        clock.advance(minutes=2 + i % 5)
        ids.append((await service.complete()).session.id)
        clock.advance(minutes=1)
    return ids


async def server_rows(admin: str, user: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """(session id -> (status, xp, coins), ledger keys) of the user, read as the admin."""
    uid = uuid.UUID(user["user_id"])
    raw = await asyncpg.connect(admin)
    try:
        sessions = await raw.fetch(
            "SELECT id, status, xp_awarded, coins_awarded FROM sessions WHERE user_id = $1", uid
        )
        ledger = await raw.fetch(
            "SELECT idempotency_key, xp, coins FROM ledger WHERE user_id = $1", uid
        )
    finally:
        await raw.close()
    return {str(r[0]): tuple(r[1:]) for r in sessions}, [tuple(r) for r in ledger]


async def device_rows(repo: SqlRepository) -> dict[str, Any]:
    return {
        str(s.id): (s.status.value, s.xp_awarded, s.coins_awarded)
        async for s in repo.iter_sessions()
    }


async def assert_nothing_lost(repo: SqlRepository, admin: str, user: dict[str, Any]) -> None:
    """Each session of the device is on the server as it is here, or still pending here;
    the server holds nothing else and no award twice."""
    here = await device_rows(repo)
    there, ledger = await server_rows(admin, user)
    assert set(there) <= set(here), "the server holds sessions this device never made"
    keys = [k for k, _, _ in ledger]
    assert len(keys) == len(set(keys)), "an award counted twice"
    missing = set(here) - set(there)
    if missing:
        assert await repo.pending_changes() > 0, f"{len(missing)} sessions lost"


async def assert_in_step(repo: SqlRepository, admin: str, user: dict[str, Any]) -> None:
    """After a clean sync: the server equals the device, ledger totals included."""
    assert await repo.pending_changes() == 0
    here = await device_rows(repo)
    there, ledger = await server_rows(admin, user)
    assert there == here
    paid = [v for v in here.values() if v[1] or v[2]]
    assert len(ledger) == len(paid)
    assert sum(x for _, x, _ in ledger) == sum(v[1] for v in here.values())
    assert sum(c for _, _, c in ledger) == sum(v[2] for v in here.values())
    assert sum(x for _, x, _ in ledger) == await repo.total_xp()


@dataclass
class Phone:
    repo: SqlRepository
    service: FocusService
    clock: FakeClock
    user: dict[str, Any]
    proxy: TcpProxy

    def target(self, timeouts: Timeouts, batch: int = 1000) -> SyncTarget:
        return SyncTarget(through(self.user["sync_url"], self.proxy), None, timeouts, batch)

    async def sync(self, timeouts: Timeouts | None = None, batch: int = 1000) -> Any:
        target = self.target(timeouts or Timeouts(5, 10), batch)
        return await sync(self.repo, target, self.clock.now())


@pytest.fixture
async def phone(tmp_path: Path, sync_user: dict[str, Any], pg_proxy: TcpProxy) -> Any:
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2))
    repo = await open_repository(tmp_path / "phone.db", UTC_ZONE, clock.now())
    service = FocusService(repo, clock, UTC_ZONE, TimerRules())
    yield Phone(repo, service, clock, sync_user, pg_proxy)
    await repo.close()


# -- Postgres: refused, black-holed, cut, restored -------------------------------------------


async def test_refused_then_black_holed_server_fails_fast_and_loses_nothing(
    phone: Phone, reliability_db: str
) -> None:
    timeouts = Timeouts(connect=1.0, statement=2.0)
    proxy = phone.proxy
    await offline_work(phone.service, phone.clock, 3)
    pending = await phone.repo.pending_changes()

    proxy.stop()  # refused
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="cannot reach Postgres"):
        await phone.sync(timeouts)
    assert time.monotonic() - started < timeouts.connect + SLACK

    await offline_work(phone.service, phone.clock, 2)  # local work goes on
    assert await phone.repo.pending_changes() > pending
    pending = await phone.repo.pending_changes()

    proxy.hole()  # accepts, never answers: the connect timeout ends it
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="did not answer within 1 s"):
        await phone.sync(timeouts)
    assert time.monotonic() - started < timeouts.connect + 0.5 + SLACK
    assert await phone.repo.pending_changes() == pending
    assert (await server_rows(reliability_db, phone.user))[0] == {}

    proxy.forward()
    report = await phone.sync(timeouts)
    assert report.pushed == pending and report.pending == 0
    await assert_in_step(phone.repo, reliability_db, phone.user)


async def test_connections_cut_at_every_point_of_a_sync_lose_nothing_and_resume(
    phone: Phone, reliability_db: str
) -> None:
    """A sync of several batches cut after 1, 2, 4 ... KiB sent (a server restart at that
    moment): each attempt fails with one error or succeeds; after each, every session is on
    the server or still pending here; the next sync with the server back completes it."""
    await offline_work(phone.service, phone.clock, 40)
    proxy = phone.proxy
    failures, threshold = 0, 1024
    while True:
        proxy.reset()
        proxy.cut_after = threshold
        try:
            await phone.sync(Timeouts(5, 10), batch=7)
        except FocusError as exc:
            failures += 1
            assert isinstance(exc, UnavailableError), exc
            assert "\n" not in str(exc)
            await assert_nothing_lost(phone.repo, reliability_db, phone.user)
            await offline_work(phone.service, phone.clock, 1)  # and more work meanwhile
            threshold *= 2
            continue
        if proxy.cut_after is None:  # cut while the last reply was on its way: once more
            continue
        break
    proxy.forward()
    await phone.sync()
    assert failures >= 5, "the cuts never hit a sync midway"
    await assert_in_step(phone.repo, reliability_db, phone.user)


async def test_a_server_black_holed_mid_sync_fails_within_the_statement_timeout(
    phone: Phone, reliability_db: str
) -> None:
    await offline_work(phone.service, phone.clock, 30)
    timeouts = Timeouts(connect=2.0, statement=1.0)
    proxy = phone.proxy
    for after in (3_000, 12_000):
        proxy.reset()
        proxy.hole_after = after
        started = time.monotonic()
        with pytest.raises(UnavailableError):
            await phone.sync(timeouts, batch=5)
        # the statement (plus its one-second grace), a rollback attempt, the close
        bound = 2 * (timeouts.statement + 1) + timeouts.connect + SLACK
        assert time.monotonic() - started < bound
        await assert_nothing_lost(phone.repo, reliability_db, phone.user)
        proxy.cut()  # the held connections are let go
        proxy.mode = "forward"
    proxy.forward()
    await phone.sync(timeouts)
    await assert_in_step(phone.repo, reliability_db, phone.user)


async def test_a_backend_terminated_mid_sync_by_the_server_resumes_cleanly(
    phone: Phone, reliability_db: str
) -> None:
    """The server side of a restart: the admin terminates the client's backend while its
    push is under way (pg_terminate_backend, as a fast shutdown does)."""
    await offline_work(phone.service, phone.clock, 60)
    role = phone.user["role"]
    stop = asyncio.Event()

    async def terminator() -> int:
        admin = await asyncpg.connect(reliability_db)
        killed = 0
        try:
            while not stop.is_set() and killed == 0:
                killed = await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE usename = $1 AND state <> 'idle'",
                    role,
                )
                await asyncio.sleep(0.001)
        finally:
            await admin.close()
        return killed

    failed = 0
    for _ in range(5):
        stop.clear()
        killer = asyncio.create_task(terminator())
        try:
            await phone.sync(batch=3)
        except UnavailableError as exc:
            failed += 1
            assert "lost the connection" in str(exc) or "Postgres" in str(exc)
        finally:
            stop.set()
            await killer
        await assert_nothing_lost(phone.repo, reliability_db, phone.user)
        if await phone.repo.pending_changes() == 0:
            break
    await phone.sync()
    await assert_in_step(phone.repo, reliability_db, phone.user)
    assert failed >= 1, "no backend was ever terminated midway"


# -- the CLI, offline and back -------------------------------------------------------------


def cli(focus: Focus, env: dict[str, str], *args: str) -> Any:
    return focus(*args, env=env, timeout=120)


def test_the_cli_works_offline_and_the_next_focus_sync_catches_up(
    tmp_path: Path, pg_proxy: TcpProxy, sync_user: dict[str, Any], reliability_db: str
) -> None:
    focus = make_focus(tmp_path)
    env = {
        "FOCUS_SYNC_URL": through(sync_user["sync_url"], pg_proxy),
        "FOCUS_SYNC__CONNECT_TIMEOUT_SECONDS": "1",
        "FOCUS_SYNC__STATEMENT_TIMEOUT_SECONDS": "2",
    }

    def pending() -> int:
        proc = cli(focus, env, "status", "--json")
        assert proc.returncode == 0, proc.stderr
        return int(json.loads(proc.stdout)["pending_changes"])

    seen = [0]  # no database yet: nothing pending
    for how in ("stop", "hole"):
        getattr(pg_proxy, how)()
        for args in (["start", "--minutes", "5", "--task", how], ["pause"], ["resume"]):
            proc = cli(focus, env, *args)
            assert proc.returncode == 0, (args, proc.stderr)
        assert cli(focus, env, "abandon").returncode == 0
        seen.append(pending())
        started = time.monotonic()
        error = assert_one_line_error(cli(focus, env, "sync"), 1)
        assert time.monotonic() - started < 1 + 0.5 + SLACK
        assert "Postgres" in error
        assert pending() == seen[-1]
        for args in (["history", "--json"], ["stats", "--json"], ["statusline"]):
            assert cli(focus, env, *args).returncode == 0, args
    assert seen[0] < seen[1] < seen[2]

    pg_proxy.forward()
    proc = cli(focus, env, "sync", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["pushed"] == seen[-1] and report["pending"] == 0
    there, _ = asyncio.run(server_rows(reliability_db, sync_user))
    assert sorted(there.values()) == [("abandoned", 0, 0)] * 2


# -- the app's background sync ---------------------------------------------------------------


async def test_the_app_keeps_its_timer_while_a_sync_hangs_and_resumes_with_backoff(
    tmp_path: Path, pg_proxy: TcpProxy, sync_user: dict[str, Any], reliability_db: str
) -> None:
    from app.config import Settings
    from app.notify import Notifier
    from app.tui.app import FocusApp, _open_with
    from tests.tui.helpers import run_clock, service_of, settle

    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    settings = Settings.from_mapping(
        {
            "sync": {
                "url": through(sync_user["sync_url"], pg_proxy),
                "connect_timeout_seconds": 4,
                "statement_timeout_seconds": 1,
            }
        }
    )
    opener = _open_with(None, str(tmp_path / "app.db"), settings, clock)
    app = FocusApp(settings, clock, opener=opener, notifier=Notifier(search_path=str(tmp_path)))
    pg_proxy.hole()
    async with app.run_test(size=(80, 24)) as pilot:

        async def until(done: Callable[[], bool], seconds: float = 60) -> None:
            deadline = time.monotonic() + seconds
            while not done():
                assert time.monotonic() < deadline, app.sync_plan
                await pilot.pause(0.05)

        # The first sync hangs on the black hole; the timer answers at once meanwhile.
        await until(lambda: app.sync_plan is not None)
        plan = app.sync_plan
        assert plan is not None
        await until(lambda: plan.running)
        started = time.monotonic()
        await pilot.press("space")
        session = None
        while session is None and time.monotonic() - started < 4:
            await pilot.pause(0.05)
            session = await service_of(app).status()
        assert session is not None, "the timer waited for the hanging sync"
        assert plan.running
        await until(lambda: plan.failures >= 1 and not plan.running)
        assert plan.state == "offline"

        # Retries back off: each wait at least as long as the one before.
        waits = []
        for _ in range(3):
            assert plan.due is not None
            waits.append((plan.due - clock.now()).total_seconds())
            await run_clock(pilot, clock, waits[-1] + 1, step=2)
            app.sync_if_due()
            failures = plan.failures
            await until(lambda f=failures: plan.failures > f and not plan.running)  # type: ignore[misc]
        assert waits == sorted(waits) and waits[-1] > waits[0]
        await pilot.press("space")  # pause: one more change pending
        await settle(pilot)
        assert plan.pending is not None and plan.pending >= 2

        pg_proxy.cut()
        pg_proxy.forward()
        assert plan.due is not None
        await run_clock(pilot, clock, (plan.due - clock.now()).total_seconds() + 1, step=2)
        app.sync_if_due()
        await until(lambda: plan.state == "online" and not plan.running)
        assert plan.pending == 0 and plan.failures == 0
    there, _ = await server_rows(reliability_db, sync_user)
    assert there == {str(session.id): ("paused", 0, 0)}


# -- S3: the upload cut, refused and black-holed --------------------------------------------


@pytest.fixture
def s3_proxy(s3_url: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(http_upstream(s3_url))
    proxy.start()
    yield proxy
    proxy.stop()


def big_file(path: Path, mib: int) -> Path:
    block = hashlib.sha256(path.name.encode()).digest() * (1 << 15)  # 1 MiB
    with path.open("wb") as f:
        for i in range(mib):
            f.write(bytes([i % 251]) + block[1:])
    return path


async def test_an_upload_through_a_failing_network_resumes_byte_exact(
    tmp_path: Path, s3: Any, s3_proxy: TcpProxy
) -> None:
    bucket = f"net-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    settings = R2Settings(
        bucket=bucket,
        access_key_id="test",
        secret_access_key="test",
        endpoint_url=f"http://127.0.0.1:{s3_proxy.port}",
        part_size_mb=5,
        concurrency=1,
        connect_timeout_seconds=1,
        read_timeout_seconds=2,
        max_attempts=2,
    )
    clock = FakeClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    repo = await open_repository(tmp_path / "uploader.db", UTC_ZONE, clock.now())
    user = uuid.uuid4()
    path = big_file(tmp_path / "long.flac", 16)
    sha, size = hash_file(path)
    try:
        # Cut once 11 MiB went up (two parts acknowledged, the third on its way), then the
        # port closed: the upload fails after its retries.
        s3_proxy.cut_after, s3_proxy.then_stop = 11 << 20, True
        with pytest.raises(UnavailableError, match="R2"):
            await R2(settings, clock=clock).upload(repo, user, path, sha, size, "audio/flac")
        assert s3_proxy.cut_after is None  # the cut happened
        started = time.monotonic()
        with pytest.raises(UnavailableError, match="R2"):
            await R2(settings, clock=clock).upload(repo, user, path, sha, size, "audio/flac")
        assert time.monotonic() - started < 2 * 1 + 2 * 2 + SLACK

        # Black-holed: the read timeout ends each attempt.
        s3_proxy.hole()
        started = time.monotonic()
        with pytest.raises(UnavailableError, match="R2"):
            await R2(settings, clock=clock).upload(repo, user, path, sha, size, "audio/flac")
        assert time.monotonic() - started < 4 * (1 + 2) + SLACK
        s3_proxy.cut()

        s3_proxy.forward()
        s3_proxy.reset()
        result = await R2(settings, clock=clock).upload(repo, user, path, sha, size, "audio/flac")
        assert result.resumed_parts == 2, "the parts acknowledged before the cut were sent again"
        assert result.sent_bytes == size - 2 * (5 << 20)
        body = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha and len(body) == size
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    finally:
        await repo.close()
        os.remove(path)
