"""Sync in the Textual app, driven by Pilot: a real SQLite file syncing to the suite's real
Postgres as a user `focus server add-user` made.

The app is built as `focus` builds it (the store opened threaded, in the app's own loop).
The unreachable server is a closed local port; the good server that comes back is the same
port forwarding to the suite's Postgres. What reached the server is read with asyncpg as
the user. The clock is the fake one, so no sync starts on its own unless a test moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from textual.pilot import Pilot

from app.clock import FakeClock
from app.config import Settings
from app.domain.models import Mode, Status
from app.notify import Notifier
from app.tui.app import FocusApp, _open_with
from app.tui.screens.history import HistoryScreen
from app.tui.sync import ON_POSTGRES, SyncPlan, retry_delay
from app.tui.widgets.sync_header import SyncBadge
from storage.sql import SqlRepository
from tests.conftest import UserFactory
from tests.sockets import free_port
from tests.tui.conftest import AppFactory
from tests.tui.helpers import run_clock, service_of, settle, shown, toasts

pytestmark = pytest.mark.postgres


def sync_app(
    url: str,
    db_path: Path,
    clock: FakeClock,
    tmp_path: Path,
    storage: dict[str, Any] | None = None,
    **sync: Any,
) -> FocusApp:
    """The app as `run_tui` builds it, with `[sync] url` set and a fake clock."""
    sections: dict[str, Any] = {"sync": {"url": url, **sync}}
    if storage:
        sections["storage"] = storage
    settings = Settings.from_mapping(sections)
    opener = _open_with(None, str(db_path), settings, clock)
    return FocusApp(settings, clock, opener=opener, notifier=Notifier(search_path=str(tmp_path)))


def badge(app: FocusApp) -> str:
    """The sync line in the current screen's header, as shown ('' when hidden)."""
    widget = app.screen.query_one(SyncBadge)
    return str(widget.render()) if widget.display else ""


async def until(pilot: Pilot[None], done: Callable[[], bool], seconds: float = 60) -> None:
    """Let the app run until `done()`; a generous limit, never a fixed sleep."""
    deadline = time.monotonic() + seconds
    while not done():
        app = pilot.app
        assert isinstance(app, FocusApp)
        assert time.monotonic() < deadline, (badge(app), app.sync_plan, toasts(app))
        await pilot.pause(0.05)
    await settle(pilot)


def repo_of(app: FocusApp) -> SqlRepository:
    assert app.container is not None
    return app.container.repo


def titled(app: FocusApp, prefix: str) -> list[str]:
    return [m for t, m in toasts(app) if t.startswith(prefix)]


async def server_sessions(sync_url: str) -> dict[str, str]:
    """id -> status of the sessions the server holds, read as the user (RLS applies)."""
    conn = await asyncpg.connect(sync_url)
    try:
        return {str(r["id"]): r["status"] for r in await conn.fetch("SELECT * FROM sessions")}
    finally:
        await conn.close()


def on_port(sync_url: str, port: int) -> str:
    """The user's URL, but through 127.0.0.1:`port`."""
    parts = urlsplit(sync_url)
    auth = parts.netloc.rsplit("@", 1)[0]
    return f"postgresql://{auth}@127.0.0.1:{port}{parts.path}"


@contextlib.asynccontextmanager
async def forwarding(port: int, sync_url: str) -> AsyncIterator[None]:
    """127.0.0.1:`port` forwards every connection to the Postgres `sync_url` names."""
    parts = urlsplit(sync_url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "localhost"])[0]
    pg_port = parts.port or 5432

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if host.startswith("/"):
            up = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{pg_port}")
        else:
            up = await asyncio.open_connection(host, pg_port)
        await asyncio.gather(pipe(reader, up[1]), pipe(up[0], writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


# -- syncing -------------------------------------------------------------------------------


async def test_a_change_shows_as_pending_and_s_syncs_it(
    pg_user: UserFactory, db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    user = await pg_user()
    app = sync_app(user["sync_url"], db_path, clock, tmp_path, interval_seconds=3600)
    async with app.run_test(size=(80, 24)) as pilot:
        # The app syncs as it opens: this new database becomes the user's.
        await until(pilot, lambda: badge(app).endswith("online"))
        assert badge(app) == "0 pending · synced 09:00 · online"
        assert titled(app, "Sync") == [f"This database now belongs to sync user {user['role']}."]

        clock.advance(minutes=7)  # idle: nothing to sync, and no interval is due yet
        await pilot.press("space")
        await until(pilot, lambda: badge(app).startswith("1 pending"))
        session = await service_of(app).status()
        assert session is not None and session.status is Status.ACTIVE
        assert badge(app) == "1 pending · synced 09:00 · online"  # pushed only shortly after
        assert await server_sessions(user["sync_url"]) == {}

        await pilot.press("s")
        await until(pilot, lambda: badge(app).startswith("0 pending"))
        assert badge(app) == "0 pending · synced 09:07 · online"
        assert await server_sessions(user["sync_url"]) == {str(session.id): "active"}
        assert titled(app, "Synced") == ["Pushed 1, pulled 0; 0 pending."]
        assert await repo_of(app).pending_changes() == 0

        # The palette lists it, with its key.
        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Sync now"].endswith("key: s")

        # Every screen's header shows the same line.
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert badge(app) == "0 pending · synced 09:07 · online"
    assert not titled(app, "Sync ·")  # no failure, nothing rejected


async def test_a_change_syncs_shortly_after_and_other_devices_arrive_every_interval(
    pg_user: UserFactory, db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    from app.bootstrap import bootstrap
    from storage.sync import SyncTarget, sync

    user = await pg_user()
    app = sync_app(user["sync_url"], db_path, clock, tmp_path, interval_seconds=60)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: badge(app).endswith("online"))
        await pilot.press("space")
        await until(pilot, lambda: badge(app).startswith("1 pending"))
        session = await service_of(app).status()
        assert session is not None

        app.sync_if_due()  # not yet: the push waits for a few quiet seconds
        await settle(pilot)
        assert badge(app) == "1 pending · synced 09:00 · online"
        await run_clock(pilot, clock, 3, step=3)  # ticks, so it is never taken for a suspend
        app.sync_if_due()
        await until(pilot, lambda: badge(app).startswith("0 pending"))
        assert badge(app) == "0 pending · synced 09:00 · online"
        assert await server_sessions(user["sync_url"]) == {str(session.id): "active"}

        # Another device of the user finishes a session and syncs it.
        laptop = await bootstrap(db=str(tmp_path / "laptop.db"), clock=clock, settings=Settings())
        try:
            await laptop.service.start(Mode.SHORT_BREAK, minutes=5)
            await laptop.service.complete()
            await sync(laptop.repo, SyncTarget(user["sync_url"]), clock.now())
        finally:
            await laptop.close()

        # It arrives with the next interval's sync (due at 09:01:03), not before.
        await run_clock(pilot, clock, 30, step=3)  # a session is running: ticks, no suspend
        app.sync_if_due()
        await settle(pilot)
        assert badge(app) == "0 pending · synced 09:00 · online"
        assert app.sync_plan is not None and f"{app.sync_plan.due:%H:%M:%S}" == "09:01:03"
        assert len((await service_of(app).history(10)).sessions) == 1
        await run_clock(pilot, clock, 33, step=3)
        app.sync_if_due()
        await until(pilot, lambda: badge(app) == "0 pending · synced 09:01 · online")
        modes = [s.mode for s in (await service_of(app).history(10)).sessions]
        assert sorted(m.value for m in modes) == ["focus", "short_break"]
        still = await service_of(app).status()
        assert still is not None and (still.id, still.status) == (session.id, Status.ACTIVE)
    assert not titled(app, "Sync ·")


# -- the server cannot be reached ------------------------------------------------------------


async def test_an_unreachable_server_shows_offline_and_the_timer_keeps_working(
    pg_user: UserFactory, db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    user = await pg_user()
    port = free_port()  # closed: connections are refused at once
    app = sync_app(on_port(user["sync_url"], port), db_path, clock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: badge(app).endswith("offline"))
        assert badge(app) == "0 pending · never synced · offline"
        (said,) = titled(app, "Sync · Server unavailable")
        assert said.startswith(f"Sync: cannot reach Postgres at 127.0.0.1:{port}")
        assert said.endswith("Retrying in 5 s; the timer works offline and nothing is lost.")

        # The timer never waits for sync: start, pause and resume work at once.
        await pilot.press("space")
        await settle(pilot)
        await run_clock(pilot, clock, 60, step=4)  # retries fail on the way, said once
        await pilot.press("space")
        await settle(pilot)
        session = await service_of(app).status()
        assert session is not None and session.status is Status.PAUSED
        assert shown(app) == "24:00"  # a minute of focus counted, none lost to sync
        await until(pilot, lambda: badge(app).startswith("2 pending"))
        assert badge(app).endswith("· never synced · offline")
        assert len(titled(app, "Sync · Server unavailable")) == 1

        # `s` tries at once and says so again; each failure in a row waits longer.
        await pilot.press("s")
        await settle(pilot)
        retries = titled(app, "Sync · Server unavailable")
        assert len(retries) == 2 and "Retrying in" in retries[1]
        assert retries[1] != retries[0]  # a longer wait than the first
        assert await server_sessions(user["sync_url"]) == {}

        # The server is back on that port: the next retry syncs, and says so once.
        async with forwarding(port, user["sync_url"]):
            plan = app.sync_plan
            assert plan is not None and plan.due is not None
            wait = (plan.due - clock.now()).total_seconds()
            assert 10 <= wait <= 300
            await run_clock(pilot, clock, wait, step=2)  # the clock stops at the retry
            app.sync_if_due()
            await until(pilot, lambda: badge(app).endswith("online"))
            assert badge(app) == f"0 pending · synced {clock.now():%H:%M} · online"
            assert await server_sessions(user["sync_url"]) == {str(session.id): "paused"}
            assert titled(app, "Synced") == ["Back online: pushed 2, pulled 0; 0 pending."]
            await pilot.press("space")  # resume: pending again, online still
            await until(pilot, lambda: badge(app).startswith("1 pending"))
            resumed = await service_of(app).status()
            assert resumed is not None and resumed.status is Status.ACTIVE
    assert app.return_code in (None, 0)


# -- what the server refused ---------------------------------------------------------------


async def test_rejected_changes_are_shown_with_how_many_and_the_first_reason(
    pg_user: UserFactory, db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    from app.bootstrap import bootstrap
    from storage.sync import rejections

    container = await bootstrap(db=str(db_path), clock=clock, settings=Settings())
    try:
        await container.service.start(Mode.FOCUS, task="Kept")
    finally:
        await container.close()
    # A change the server's checks refuse (a damaged or modified outbox row).
    with sqlite3.connect(db_path) as db:
        (entity_id,) = db.execute("SELECT entity_id FROM outbox LIMIT 1").fetchone()
        other = uuid.uuid4()
        broken = other.hex if len(str(entity_id)) == 32 else str(other)
        db.execute(
            "INSERT INTO outbox (user_id, client_id, entity, entity_id, version, payload, "
            "created_at) SELECT user_id, client_id, entity, ?, 1, '{\"broken\": true}', "
            "created_at FROM outbox LIMIT 1",
            (broken,),
        )
    db.close()

    user = await pg_user()
    app = sync_app(user["sync_url"], db_path, clock, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: badge(app).endswith("online"))
        assert badge(app).startswith("0 pending")
        (refused,) = await rejections(repo_of(app))
        assert str(refused.entity_id) == str(other)
        (said,) = titled(app, "Sync · changes rejected")
        assert said == (
            f"The server rejected 1 change: {refused.reason}. `focus sync --rejected` lists them."
        )
        kept = await service_of(app).status()
        assert kept is not None
        assert await server_sessions(user["sync_url"]) == {str(kept.id): "active"}


# -- no sync -------------------------------------------------------------------------------


async def test_without_sync_the_app_says_nothing_about_it(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("space")
        await settle(pilot)
        assert badge(app) == "" and app.sync_badge == ("", "")
        await pilot.press("s")
        await settle(pilot)
        assert not toasts(app)
        assert not app.screen.active_bindings.get("s")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Sync now" not in titles
        assert app.sync_plan is None
        await pilot.press("h")
        await settle(pilot)
        assert badge(app) == ""


async def test_on_postgres_sync_is_off_and_s_says_why(
    pg_user: UserFactory, db_path: Path, clock: FakeClock, tmp_path: Path
) -> None:
    user = await pg_user()
    app = sync_app(user["sync_url"], db_path, clock, tmp_path, storage={"url": user["sync_url"]})
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.service is not None and app.sync_plan is None
        assert badge(app) == ""
        await pilot.press("s")
        await settle(pilot)
        assert toasts(app) == [("Sync", ON_POSTGRES)]
    assert not db_path.exists()


# -- the schedule ----------------------------------------------------------------------------


def test_failures_in_a_row_wait_twice_as_long_up_to_five_minutes() -> None:
    waits = [retry_delay(n).total_seconds() for n in range(1, 9)]
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300]
    assert retry_delay(10_000).total_seconds() == 300


def test_changes_wait_for_a_quiet_moment_but_never_cut_a_backoff_short(clock: FakeClock) -> None:
    now = clock.now()
    plan = SyncPlan(timedelta(seconds=60), due=now + timedelta(seconds=60))
    plan.changed(now)
    plan.changed(now + timedelta(seconds=2))  # a burst of keys: one sync, after the last
    assert plan.due == now + timedelta(seconds=5)
    assert plan.failed(now, offline=True) == timedelta(seconds=5)
    assert plan.failed(now, offline=True) == timedelta(seconds=10)
    plan.changed(now)  # offline: the change waits for the retry
    assert plan.due == now + timedelta(seconds=10)
    assert plan.badge(ZoneInfo("UTC"), now) == ("… pending · never synced · offline", "offline")
    plan.succeeded(now, pending=0)
    assert plan.due == now + timedelta(seconds=60) and plan.failures == 0
    later = now + timedelta(days=1)
    assert plan.badge(ZoneInfo("Europe/Paris"), later)[0] == (
        "0 pending · synced 02 Mar 10:00 · online"
    )
