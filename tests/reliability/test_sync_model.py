"""Model-based sync test: a Hypothesis state machine drives two or three devices of one user
(each a real SQLite file behind the real service layer, on a clock of its own skewed by
minutes to hours) through random lifecycle actions made offline and random syncs through
the real sync code to the suite's real Postgres, with faults between the steps:

- a request dropped: the push fails before the server commits (nothing of it applied);
- a response dropped: the server committed the batch, the device never heard back;
- the same batch delivered twice (the second delivery must write nothing);
- a crash between the server's acknowledgement and the local delete (the device's process
  dies there and is started again);
- a device database reset: a fresh file (a new client id) that adopts the user on its
  first sync and pulls the history;
- clock skew: every device's clock is off the true time by its own minutes to hours.

Invariants after every step: a device reads its own writes (every session it changed is
stored as the flow returned it, and a sync never changes a device's own sessions); a
terminal status, once seen anywhere, never changes anywhere (same status, version, reward);
the server holds each change once (its last change id of a device never passes the last
id that device made; every award on the server belongs to a completed session on the server
and matches its reward; no session is paid twice). At quiescence (syncing stops, every
device syncs twice without faults): every device equals every other and the server,
session for session, with the same ledger, level, streaks and stats, each equal to a
recount of its own sessions; the server's ledger is exactly the model's paid sessions.

Each example starts from a fresh server state: the model's user, on a database of this
test's own, has every row deleted by the admin first (one round trip; a new database per
example, even from a template, costs about 0.6 s, a new login role 0.1 s). Device files are
copies of one empty, migrated file with its identity removed (a copy gets a new client id
on open), which costs 15 ms instead of a migration's second.

To keep 500 examples within CI's time, this test's Postgres database does not wait for
the disk at commit (`synchronous_commit = off`) and the device files live in /dev/shm when
there is one: durability is what test_kills.py tests, with real processes and fsync.

Profiles: HYPOTHESIS_PROFILE=ci (the default: 500 examples of 8 steps, derandomized),
long (3000 examples of 40 steps; also FOCUS_LONG=1; the `slow` test runs it:
`pytest -m slow tests/reliability/test_sync_model.py`), dev (no shrinking).
FOCUS_MODEL_EXAMPLES and FOCUS_MODEL_STEPS override the counts.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import sqlite3
import sys
import tempfile
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from app.clock import FakeClock
from app.domain.errors import RefusedError, UnavailableError
from app.domain.models import Mode, Session
from app.services import FocusService, TimerRules
from storage.local import open_repository
from storage.pg_connect import Timeouts
from storage.sql import SqlRepository
from storage.sync import SyncTarget, sync
from storage.sync.device import Pending
from storage.sync.server import Link
from tests.sync.conftest import Device, ServerView, as_uuid, check_consistent

pytestmark = pytest.mark.postgres

# The module (`storage.sync.push` the attribute is the function of that name).
push: Any = importlib.import_module("storage.sync.push")

ZONE = ZoneInfo("UTC")
TRUE_START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TERMINAL = ("completed", "abandoned", "expired")
SERVER_TABLES = (
    "ledger",
    "sessions",
    "rollups",
    "streak_cache",
    "tracks",
    "libraries",
    "deletions",
    "sync_rejections",
    "sync_clients",
    "user_state",
)

STEPS = int(os.environ.get("FOCUS_MODEL_STEPS", "8"))
settings.register_profile(
    "model-ci",
    max_examples=int(os.environ.get("FOCUS_MODEL_EXAMPLES", "500")),
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
settings.register_profile(
    "model-long",
    max_examples=int(os.environ.get("FOCUS_MODEL_EXAMPLES", "3000")),
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

settings.register_profile(
    "model-dev",
    max_examples=int(os.environ.get("FOCUS_MODEL_EXAMPLES", "50")),
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=[Phase.generate],
)


def profile() -> str:
    """This test's profile: HYPOTHESIS_PROFILE "ci" (the default), "long" (also
    FOCUS_LONG=1) or "dev" (no shrinking: quick to rerun while fixing)."""
    if os.environ.get("FOCUS_LONG") == "1":
        return "model-long"
    wanted = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    return f"model-{wanted}" if wanted in ("ci", "long", "dev") else "model-ci"


class Dropped(UnavailableError):
    """The fault this test injected: the network lost the request or the response."""


@dataclass
class Place:
    """Where the model runs: a user on a database of its own, and the loop to run on."""

    admin: str
    user: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    template: Path
    root: Path
    raw: asyncpg.Connection
    """The admin's connection, kept open (a connection costs a new server process)."""

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)


@dataclass
class Phone:
    """One simulated device: its file, its store and service, its skewed clock."""

    name: str
    path: Path
    skew: timedelta
    clock: FakeClock
    repo: SqlRepository
    service: FocusService
    own: dict[uuid.UUID, Session] = field(default_factory=dict)
    """The sessions this database changed, as its flows returned them."""

    @property
    def client(self) -> uuid.UUID:
        return self.repo.identity.client_id


async def fresh_file(place: Place, name: str, n: int) -> Path:
    path = place.root / f"{name}-{n}.db"
    shutil.copyfile(place.template, path)
    return path


async def open_phone(place: Place, name: str, path: Path, skew: timedelta, now: datetime) -> Phone:
    clock = FakeClock(now + skew)
    repo = await open_repository(path, ZONE, clock.now())
    return Phone(name, path, skew, clock, repo, FocusService(repo, clock, ZONE, TimerRules()))


class SyncModel(RuleBasedStateMachine):
    place: Place  # set by the test before the machine runs
    fired: dict[str, int] = {}

    def __init__(self) -> None:
        super().__init__()
        self.now = TRUE_START
        self.phones: list[Phone] = []
        self.terminal: dict[uuid.UUID, tuple[Any, ...]] = {}
        """Each session's terminal snapshot, the first time it is seen terminal anywhere."""
        self.finished_at: set[tuple[str, uuid.UUID]] = set()
        self.orphans: dict[uuid.UUID, Session] = {}
        """Sessions of databases that were reset, in their last state the server has."""
        self.files = 0
        self.resets = 0
        self.place.run(self._wipe_server())

    # -- set-up ----------------------------------------------------------------------------

    async def _wipe_server(self) -> None:
        uid = uuid.UUID(self.place.user["user_id"])
        await self.place.raw.execute(
            "; ".join(f"DELETE FROM {t} WHERE user_id = '{uid}'" for t in SERVER_TABLES)
        )

    @initialize(
        skews=st.lists(
            st.integers(min_value=-180, max_value=180).map(lambda m: timedelta(minutes=m)),
            min_size=2,
            max_size=3,
        )
    )
    def devices(self, skews: list[timedelta]) -> None:
        for n, skew in enumerate(skews):
            self.phones.append(self.place.run(self._new_phone(f"d{n}", skew)))

    async def _new_phone(self, name: str, skew: timedelta) -> Phone:
        self.files += 1
        path = await fresh_file(self.place, name, self.files)
        return await open_phone(self.place, name, path, skew, self.now)

    def teardown(self) -> None:
        try:
            if self.phones:
                # Each device opened once more (which settles a session its clock overtook),
                # then synced twice: the reading below changes nothing.
                for phone in self.phones:
                    self._act(phone, phone.service.status())
                self.place.run(self._quiescence())
        finally:
            for phone in self.phones:
                self.place.run(phone.repo.close())

    # -- offline work ----------------------------------------------------------------------

    phone_index = st.integers(min_value=0, max_value=2)

    def _phone(self, i: int) -> Phone:
        return self.phones[i % len(self.phones)]

    @rule(minutes=st.integers(min_value=0, max_value=40), seconds=st.integers(0, 59))
    def time_passes(self, minutes: int, seconds: int) -> None:
        step = timedelta(minutes=minutes, seconds=seconds)
        self.now += step
        for phone in self.phones:
            phone.clock.set(self.now + phone.skew)

    @rule(
        i=phone_index,
        mode=st.sampled_from([Mode.FOCUS, Mode.FOCUS, Mode.SHORT_BREAK, Mode.LONG_BREAK]),
        minutes=st.sampled_from([1, 5, 25]),
        force=st.booleans(),
    )
    def start(self, i: int, mode: Mode, minutes: int, force: bool) -> None:
        phone = self._phone(i)
        self._act(phone, phone.service.start(mode=mode, minutes=minutes, force=force))

    @rule(
        i=phone_index,
        action=st.sampled_from(["pause", "resume", "extend", "complete", "abandon", "status"]),
    )
    def act(self, i: int, action: str) -> None:
        phone = self._phone(i)
        svc = phone.service
        flows = {
            "pause": svc.pause,
            "resume": svc.resume,
            "extend": lambda: svc.extend(5),
            "complete": svc.complete,
            "abandon": lambda: svc.abandon("model"),
            "status": svc.status,
        }
        self._act(phone, flows[action]())

    def _act(self, phone: Phone, flow: Any) -> None:
        before = self.place.run(open_or_none(phone))
        try:
            result = self.place.run(flow)
        except RefusedError:
            result = None
        # A flow may have settled the open session (ran out, or paused too long) before
        # acting on (or refusing) the next one: it is this device's change too.
        if before is not None:
            phone.own[before.id] = self.place.run(phone.repo.get_session(before.id)) or before
        session = getattr(result, "session", result)
        if isinstance(session, Session):
            phone.own[session.id] = session
        current = self.place.run(open_or_none(phone))
        if current is not None:
            phone.own[current.id] = current

    # -- sync and its faults -----------------------------------------------------------------

    @rule(i=phone_index, batch=st.sampled_from([1, 2, 1000]))
    def sync_ok(self, i: int, batch: int) -> None:
        self._sync(self._phone(i), batch)

    batches = st.sampled_from([1, 2, 1000])
    nths = st.integers(min_value=1, max_value=2)

    @rule(i=phone_index, batch=batches, nth=nths)
    def sync_request_dropped(self, i: int, batch: int, nth: int) -> None:
        self._faulty(i, "request", batch, nth)

    @rule(i=phone_index, batch=batches, nth=nths)
    def sync_response_dropped(self, i: int, batch: int, nth: int) -> None:
        self._faulty(i, "response", batch, nth)

    @rule(i=phone_index, batch=batches, nth=nths)
    def sync_batch_delivered_twice(self, i: int, batch: int, nth: int) -> None:
        self._faulty(i, "twice", batch, nth)

    @rule(i=phone_index, batch=batches, nth=nths)
    def sync_crash_between_ack_and_delete(self, i: int, batch: int, nth: int) -> None:
        self._faulty(i, "crash", batch, nth)

    def _faulty(self, i: int, fault: str, batch: int, nth: int) -> None:
        """A sync whose `nth` batch (or its last, when it has fewer) meets the fault; a
        device with nothing to push starts a session first, so there is a batch to hurt."""
        phone = self._phone(i)
        if not self.place.run(phone.repo.pending_changes()):
            self._act(phone, phone.service.start(minutes=25, force=True))
        rows = self.place.run(phone.repo.pending_changes())
        nth = min(nth, -(-rows // batch))
        seen = 0
        twice: list[int] = []

        async def hook(
            point: str, link: Link, repo: SqlRepository, pending: list[Pending], now: datetime
        ) -> None:
            nonlocal seen
            if point == "before_commit":
                seen += 1
            if seen != nth:
                return
            if fault == "request" and point == "before_commit":
                fired(fault)
                raise Dropped("request lost")
            if fault in ("response", "crash") and point == "after_commit":
                fired(fault)
                raise Dropped("response lost")
            if fault == "twice" and point == "after_commit":
                fired(fault)
                push.fault_hook = None
                try:
                    _, rejected, written = await push.push_batch(link, repo, pending, now)
                finally:
                    push.fault_hook = hook
                twice.append(written)
                assert rejected == [], rejected

        push.fault_hook = hook
        try:
            self._sync(phone, batch, may_fail=True)
        finally:
            push.fault_hook = None
        assert twice in ([], [0]), f"a batch delivered twice wrote {twice} rows the second time"
        if fault == "crash":
            self.place.run(self._restart(phone))

    async def _restart(self, phone: Phone) -> None:
        await phone.repo.close()
        phone.repo = await open_repository(phone.path, ZONE, phone.clock.now())
        phone.service = FocusService(phone.repo, phone.clock, ZONE, TimerRules())

    def _sync(self, phone: Phone, batch: int, may_fail: bool = False) -> None:
        mine = self.place.run(sessions_of(phone))
        target = SyncTarget(
            self.place.user["sync_url"], timeouts=Timeouts(10, 20), batch_size=batch
        )
        try:
            self.place.run(sync(phone.repo, target, phone.clock.now()))
        except Dropped:
            assert may_fail
        after = self.place.run(sessions_of(phone))
        user = phone.repo.identity.user_id  # the server's user, once the file is adopted
        phone.own = {sid: replace(s, user_id=user) for sid, s in phone.own.items()}
        for sid, session in phone.own.items():
            before = mine.get(sid)
            assert before is not None and replace(before, user_id=user) == session, sid
            assert after.get(sid) == session, f"{phone.name}: sync changed {sid}"
        self.place.run(self._check_server())

    @precondition(lambda self: self.resets < 1)
    @rule(i=phone_index)
    def reset_database(self, i: int) -> None:
        """The device's database is replaced by a fresh one (after a last good sync: work
        not synced is lost with a deleted file, by the user's own hand)."""
        phone = self._phone(i)
        self._sync(phone, 1000)
        fresh = self.place.run(self._new_phone(phone.name, phone.skew))
        self.phones[i % len(self.phones)] = fresh
        self.resets += 1
        fired("reset")
        self.place.run(phone.repo.close())
        # Synced just now: the server holds them as this device did, and no one changes
        # them any more (a device changes only its own sessions).
        self.orphans.update(phone.own)

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def reads_its_own_writes_and_terminal_is_final(self) -> None:
        for phone in self.phones:
            here = self.place.run(sessions_of(phone))
            for sid, session in phone.own.items():
                assert here.get(sid) == session, f"{phone.name} lost its own write to {sid}"
            for sid, session in here.items():
                self._terminal(str(phone.path), sid, session.status.is_terminal, snapshot(session))
            # The device's ledger sums to the rewards its sessions carry, one award each.
            paid = self.place.run(ledger_of(phone))
            assert paid == {
                (s.mode.value, sid): (s.xp_awarded, s.coins_awarded)
                for sid, s in here.items()
                if s.xp_awarded or s.coins_awarded
            }, f"{phone.name}: the ledger is not its sessions' rewards"

    def _terminal(self, where: str, sid: uuid.UUID, terminal: bool, shot: tuple[Any, ...]) -> None:
        """A session finished anywhere is finished the same way everywhere it is finished,
        and never open again where it was seen finished."""
        if not terminal:
            assert (where, sid) not in self.finished_at, f"{where}: {sid} is open again"
            return
        self.finished_at.add((where, sid))
        held = self.terminal.setdefault(sid, shot)
        assert shot == held, f"{where}: a finished session changed: {sid} {held} -> {shot}"

    async def _check_server(self) -> None:
        view = await view_of(self.place)
        for sid, row in view.sessions.items():
            shot = (
                row["status"],
                row["version"],
                row["xp_awarded"],
                row["coins_awarded"],
            )
            self._terminal("server", sid, row["status"] in TERMINAL, shot)
        paid: dict[uuid.UUID, int] = {}
        for key, entry in view.ledger.items():
            sid = entry["session_id"]
            paid_for = view.sessions.get(sid)
            assert paid_for is not None and paid_for["status"] == "completed", key
            row = paid_for
            assert (entry["xp"], entry["coins"]) == (row["xp_awarded"], row["coins_awarded"])
            assert key == f"{row['mode']}_complete:{sid}"
            paid[sid] = paid.get(sid, 0) + 1
        assert all(n == 1 for n in paid.values()), "a session paid twice"
        for phone in self.phones:
            applied = view.clients.get(phone.client, 0)
            assert applied <= await last_id(phone), (
                f"{phone.name}: the server applied changes never made"
            )

    # -- quiescence -----------------------------------------------------------------------------

    async def _quiescence(self) -> None:
        target = SyncTarget(self.place.user["sync_url"], timeouts=Timeouts(10, 20))
        for _ in range(2):
            for phone in self.phones:
                report = await sync(phone.repo, target, phone.clock.now())
                assert report.rejected == [] and report.skipped == [], report
        view = await view_of(self.place)
        expected: dict[uuid.UUID, Session] = dict(self.orphans)
        for phone in self.phones:
            expected.update(phone.own)
        views = []
        for phone in self.phones:
            assert await phone.repo.pending_changes() == 0, phone.name
            assert view.clients.get(phone.client, 0) == await last_id(phone), phone.name
            here = await sessions_of(phone)
            assert set(here) == set(view.sessions) == set(expected), phone.name
            for sid, session in expected.items():
                assert snapshot(here[sid]) == snapshot(session), (phone.name, sid)
            device = Device(phone.name, phone.path, phone.repo, phone.service, phone.clock, {})
            await check_consistent(device)
            views.append((here, await phone.repo.total_xp(), await stats_of(phone)))
        for other in views[1:]:
            assert other[0] == views[0][0], "every device holds the same sessions"
            assert other[1:] == views[0][1:], (
                "the same xp, level, streaks, stats",
                other,
                views[0],
            )
        for sid, session in expected.items():
            row = view.sessions[sid]
            assert (row["status"], row["version"], row["xp_awarded"], row["coins_awarded"]) == (
                snapshot(session)
            ), sid
        paid = {f"{s.mode.value}_complete:{s.id}" for s in expected.values() if s.xp_awarded}
        assert set(view.ledger) == paid, "the server's ledger is the model's"
        assert sum(e["xp"] for e in view.ledger.values()) == views[0][1]
        assert view.rejections == []


async def view_of(place: Place) -> ServerView:
    """The user's rows on the server, as its admin reads them."""
    raw, uid = place.raw, uuid.UUID(place.user["user_id"])
    sessions = await raw.fetch("SELECT * FROM sessions WHERE user_id = $1", uid)
    ledger = await raw.fetch("SELECT * FROM ledger WHERE user_id = $1", uid)
    rejected = await raw.fetch("SELECT * FROM sync_rejections WHERE user_id = $1", uid)
    clients = await raw.fetch(
        "SELECT client_id, last_mutation_id FROM sync_clients WHERE user_id = $1", uid
    )
    return ServerView(
        {as_uuid(r["id"]): dict(r) for r in sessions},
        {r["idempotency_key"]: dict(r) for r in ledger},
        [dict(r) for r in rejected],
        {as_uuid(r["client_id"]): int(r["last_mutation_id"]) for r in clients},
        0,
    )


def fired(fault: str) -> None:
    SyncModel.fired[fault] = SyncModel.fired.get(fault, 0) + 1


def snapshot(s: Session) -> tuple[Any, ...]:
    return (s.status.value, s.version, s.xp_awarded, s.coins_awarded)


async def open_or_none(phone: Phone) -> Session | None:
    return await phone.repo.open_session()


async def sessions_of(phone: Phone) -> dict[uuid.UUID, Session]:
    return {s.id: s async for s in phone.repo.iter_sessions()}


async def stats_of(phone: Phone) -> Any:
    stats = await phone.service.stats()
    return (stats.total, stats.level, stats.streak.longest)


async def ledger_of(phone: Phone) -> dict[tuple[str, uuid.UUID], tuple[int, int]]:
    """(mode, session) -> (xp, coins) of the device's awards (a key taken twice fails)."""
    found: dict[tuple[str, uuid.UUID], tuple[int, int]] = {}
    rows = await phone.repo.conn.fetch("SELECT idempotency_key, xp, coins FROM ledger", {})
    for key, xp, coins in rows:
        mode, _, sid = str(key).partition("_complete:")
        at = (mode, uuid.UUID(sid))
        assert at not in found, f"{phone.name}: {key} paid twice"
        found[at] = (int(xp), int(coins))
    return found


async def last_id(phone: Phone) -> int:
    rows = await phone.repo.conn.fetch("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", {})
    return int(rows[0][0]) if rows else 0


def run_model(pg_server: str, tmp_path: Path, chosen: str) -> None:
    from tests.pg import add_user, create_database, init_server

    loop = asyncio.new_event_loop()
    try:

        async def prepare() -> tuple[str, dict[str, Any], Path]:
            admin = await create_database(pg_server)
            await init_server(admin)
            # This database's commits do not wait for the disk: the model checks what the
            # sync does, not Postgres' durability (a commit is still a commit to readers).
            raw = await asyncpg.connect(admin)
            try:
                name = await raw.fetchval("SELECT current_database()")
                await raw.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
            finally:
                await raw.close()
            user = await add_user(admin)
            template = tmp_path / "empty.db"
            repo = await open_repository(template, ZONE, TRUE_START)
            await repo.close()
            db = sqlite3.connect(template)
            try:
                db.execute("DELETE FROM meta WHERE key IN ('user_id', 'client_id')")
                db.commit()
            finally:
                db.close()
            return admin, user, template

        admin, user, template = loop.run_until_complete(prepare())
        raw = loop.run_until_complete(asyncpg.connect(admin))
        # Device files in memory when the system has a tmpfs (fsync costs nothing there):
        # the kill tests (test_kills.py) are the ones about durability.
        shm = Path("/dev/shm")
        where = shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
        with tempfile.TemporaryDirectory(dir=where, prefix="focus-model-") as root:
            SyncModel.place = Place(admin, user, loop, template, Path(root), raw)
            SyncModel.fired = {}
            try:
                run_state_machine_as_test(SyncModel, settings=settings.get_profile(chosen))
            finally:
                loop.run_until_complete(raw.close())
    finally:
        loop.close()
    sys.stderr.write(f"model-based sync: faults injected {SyncModel.fired}\n")
    # Every kind of fault was met (the test proves nothing about the faults it never made).
    assert set(SyncModel.fired) == {"request", "response", "twice", "crash", "reset"}


def test_devices_converge_through_faults_model_based(pg_server: str, tmp_path: Path) -> None:
    run_model(pg_server, tmp_path, profile())


@pytest.mark.slow
def test_devices_converge_through_faults_model_based_long(pg_server: str, tmp_path: Path) -> None:
    run_model(pg_server, tmp_path, "model-long")
