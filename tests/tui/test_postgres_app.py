"""The Textual app straight on Postgres (`[storage] url`), driven by Pilot.

The app is built as `focus` builds it (the store opened by the app's own opener, in its own
loop, with a writer connection of its own), over a user `focus server add-user` made; what
it wrote is read back through a second repository, as another process of the user would.
A storage url that cannot be used is shown in the app (a notification and the caption), and
the app keeps running.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pytest
from textual.widgets import Input, Static

from app.clock import FakeClock
from app.config import Settings
from app.domain.models import Mode, Status
from app.notify import Notifier
from app.tui.app import FocusApp, _open_with
from app.tui.screens.history import HistoryScreen
from app.tui.screens.stats import StatsScreen
from app.tui.widgets.history_table import HistoryTable
from storage.postgres import open_pg_repository
from tests.conftest import UserFactory
from tests.sockets import black_hole_port, free_port
from tests.tui.helpers import cell_text, run_clock, service_of, settle, shown, toasts

pytestmark = pytest.mark.postgres

SECRET = "Hunter2Secret0pw"


def pg_app(
    url: str, clock: FakeClock, tmp_path: Path, storage: dict[str, Any] | None = None
) -> FocusApp:
    """The app as `run_tui` builds it, with `[storage] url` set and a fake clock. `--db` names
    a file that must never be created."""
    settings = Settings.from_mapping({"storage": {"url": url, **(storage or {})}})
    opener = _open_with(None, str(tmp_path / "focus.db"), settings, clock)
    notifier = Notifier(search_path=str(tmp_path / "no-bin"))
    return FocusApp(settings, clock, opener=opener, notifier=notifier)


def text_of(screen: Any, selector: str) -> str:
    from tests.tui.helpers import rich_text

    return rich_text(screen.query_one(selector, Static).content).strip()


async def test_the_app_runs_a_session_on_postgres(
    pg_user: UserFactory, clock: FakeClock, tmp_path: Path
) -> None:
    user = await pg_user()
    utc = ZoneInfo("UTC")
    other = await open_pg_repository(user["sync_url"], utc)  # another process of the user
    app = pg_app(user["sync_url"], clock, tmp_path)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert app.service is not None and not toasts(app)
            assert str(app.service.repo.identity.user_id) == user["user_id"]
            app.timer_screen.query_one("#task", Input).value = "On the server"
            app.timer_screen.query_one("#tags", Input).value = "pg deep"
            await pilot.press("space")
            await settle(pilot)
            started = await other.open_session()
            assert started is not None and started.status is Status.ACTIVE
            assert (started.task_title, list(started.tags)) == ("On the server", ["pg", "deep"])

            await run_clock(pilot, clock, 60, step=2)
            assert shown(app) == "24:00"
            await pilot.press("space")  # pause
            await settle(pilot)
            paused = await other.open_session()
            assert paused is not None and paused.status is Status.PAUSED
            assert paused.id == started.id
            await run_clock(pilot, clock, 180, step=4)  # paused time is never focus
            assert shown(app) == "24:00"
            await pilot.press("space")  # resume
            await settle(pilot)
            resumed = await other.open_session()
            assert resumed is not None and resumed.status is Status.ACTIVE
            await run_clock(pilot, clock, 9 * 60, step=4)
            assert shown(app) == "15:00"
            await pilot.press("c")
            await settle(pilot)
            assert app.timer_screen.session is None

            (done,) = await other.history(10)
            assert (done.id, done.status) == (started.id, Status.COMPLETED)
            assert done.focused.total_seconds() == 10 * 60
            assert done.paused_total.total_seconds() == 180 and done.pause_count == 1
            assert (done.xp_awarded, done.coins_awarded) == (10, 2)
            assert done.completed_at == clock.now()
            assert await other.open_session() is None
            assert await other.total_xp() == 10

            await pilot.press("h")
            await settle(pilot)
            assert isinstance(app.screen, HistoryScreen)
            table = app.screen.query_one(HistoryTable)
            assert [str(r.key.value) for r in table.ordered_rows] == [str(done.id)]
            row = [cell_text(c) for c in table.get_row_at(0)]
            assert row[1:] == ["On the server  #pg #deep", "completed", "10", "10", "2"]

            await pilot.press("g")
            await settle(pilot)
            assert isinstance(app.screen, StatsScreen)
            assert text_of(app.screen, "#card-today").splitlines() == [
                "1 session",
                "10m focused",
                "100% completed",
            ]
            assert text_of(app.screen, "#card-streak").splitlines()[0] == "1 day now"
            assert "On the server" in text_of(app.screen, "#top-tasks")
            stats = await service_of(app).stats()
            assert (stats.focus.completed, stats.level.total_xp, stats.coins) == (1, 10, 2)

            # What another process of the user writes shows after `r`.
            from app.services import FocusService

            elsewhere = FocusService(other, clock, utc)
            await elsewhere.start(Mode.FOCUS, 25, "From the CLI")
            clock.advance(minutes=20)
            await elsewhere.complete()
            await pilot.press("r")
            await settle(pilot)
            assert text_of(app.screen, "#card-today").splitlines()[:2] == [
                "2 sessions",
                "30m focused",
            ]
            assert [t for t, _ in toasts(app)] == ["Focus complete"]  # and no error
    finally:
        await other.close()
    assert not (tmp_path / "focus.db").exists()


# -- a storage url that cannot be used: shown, never a crash ------------------------------


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections and never answers; its number."""
    with black_hole_port() as port:
        yield port


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    auth, host = parts.netloc.split("@")
    netloc = f"{auth.split(':')[0]}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


async def opened_with_error(app: FocusApp, seconds: float = 10) -> tuple[str, str, str]:
    """(title, message) of the notification the failed open raised, and the caption."""
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + seconds
        while not toasts(app) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.service is None  # (`settle` would wait for a store that never opens)
        ((title, message),) = toasts(app)
        caption = app.opening.countdown.caption
        # The keys that need the store say why they cannot act; the app keeps running.
        for key in ("space", "c", "h", "g"):
            await pilot.press(key)
            await pilot.pause()
        assert app.is_running and app.screen is app.opening
        later = toasts(app)[1:]
        assert later and all(m == caption for _, m in later), later  # never "Still opening"
    assert app.return_code in (None, 0)
    return title, message, str(caption)


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("postgresql://", "needs a host"),
        (f"mysql://x:{SECRET}@y/z", "scheme 'mysql'"),
        (f"postgresql://alice:{SECRET[:6]}/{SECRET[6:]}@db.example/focus", "port"),
    ],
)
async def test_a_malformed_url_is_shown_in_the_app(
    url: str, needle: str, clock: FakeClock, tmp_path: Path
) -> None:
    title, message, caption = await opened_with_error(pg_app(url, clock, tmp_path))
    assert title == "Configuration" and needle in message
    assert caption == f"Database unavailable: {message}"
    assert SECRET[:6] not in message + caption and SECRET[6:] not in message + caption
    assert not (tmp_path / "focus.db").exists()


async def test_a_refused_password_is_shown_in_the_app(
    pg_user: UserFactory, clock: FakeClock, tmp_path: Path
) -> None:
    user = await pg_user()
    real = urlsplit(user["sync_url"]).password
    assert real
    app = pg_app(with_password(user["sync_url"], SECRET), clock, tmp_path)
    title, message, caption = await opened_with_error(app)
    assert title == "Configuration"
    assert message.startswith(f"Postgres refused the password for role {user['role']} at ")
    assert caption == f"Database unavailable: {message}"
    for secret in (SECRET, real):
        assert secret not in message + caption


async def test_a_server_that_is_down_is_shown_in_the_app(clock: FakeClock, tmp_path: Path) -> None:
    port = free_port()
    app = pg_app(f"postgresql://alice:{SECRET}@127.0.0.1:{port}/focus", clock, tmp_path)
    t0 = time.monotonic()
    title, message, caption = await opened_with_error(app)
    assert time.monotonic() - t0 < 5  # refused at once (the connect timeout is 5 s)
    assert title == "Server unavailable"
    assert message.startswith(f"cannot reach Postgres at 127.0.0.1:{port}: ")
    assert caption == f"Database unavailable: {message}" and SECRET not in message


async def test_a_port_that_never_answers_is_shown_within_the_connect_timeout(
    black_hole: int, clock: FakeClock, tmp_path: Path
) -> None:
    url = f"postgresql://alice:{SECRET}@127.0.0.1:{black_hole}/focus"
    app = pg_app(url, clock, tmp_path, {"connect_timeout_seconds": 2})
    async with app.run_test(size=(80, 24)) as pilot:
        t0 = time.monotonic()
        # While it waits, the timer screen is there and says so.
        await pilot.pause()
        assert app.opening.countdown.caption == "Opening the database…"
        while not toasts(app) and time.monotonic() - t0 < 15:
            await pilot.pause(0.05)
        elapsed = time.monotonic() - t0
        ((title, message),) = toasts(app)
        assert title == "Server unavailable"
        assert message == (
            f"Postgres at 127.0.0.1:{black_hole} did not answer within 2 s (connect timeout)"
        )
        assert app.opening.countdown.caption == f"Database unavailable: {message}"
        assert elapsed < 2 + 3, elapsed  # the timeout, and a margin for a busy machine
        assert app.is_running
