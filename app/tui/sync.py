"""Sync in the app: a worker that pushes and pulls soon after each change and every
`[sync] interval_seconds`, backing off while the server cannot be reached; the timer never
waits for it. The header shows its line: pending changes, last sync, online state.

`SyncPlan` decides when the next sync is due and what the line says, from the injected
clock (no I/O, no app); `SyncingApp` runs it. With no `[sync] url` nothing here runs and
the header says nothing about sync.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.reactive import reactive

from app.config import Settings
from app.config_rules import Secret
from app.domain.errors import UnavailableError
from app.textsafe import visible
from app.tui.errors import describe
from app.tui.text import local_stamp, local_time

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.clock import Clock
    from app.tui.screens.timer import TimerScreen
    from storage.sync import SyncReport

DEBOUNCE = timedelta(seconds=3)
"""Quiet time after a change before it is pushed: a burst of keys makes one sync."""
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=5)
CHECK_SECONDS = 1.0
"""How often (real seconds) the app looks whether a sync is due by its clock."""
ON_POSTGRES = (
    "Sync is off: [storage] url runs Focus on Postgres itself, which needs no sync; "
    "[sync] url is for a device's local store. Unset one of them."
)
STATES = {"syncing": "syncing…", "online": "online", "offline": "offline", "error": "sync error"}


def _set(url: Secret | None) -> bool:
    return url is not None and bool(url.get_secret_value().strip())


def sync_configured(settings: Settings) -> bool:
    """`[sync] url` (or FOCUS_SYNC_URL) is set: the app has something to say about sync."""
    return _set(settings.sync.url)


def runs_on_postgres(settings: Settings) -> bool:
    return _set(settings.storage.url)


def retry_delay(failures: int) -> timedelta:
    """5 s, 10 s, 20 s ... up to 5 minutes after the `failures`-th failure in a row."""
    return min(FIRST_RETRY * (1 << min(max(failures - 1, 0), 16)), LONGEST_RETRY)


@dataclass
class SyncPlan:
    """When the next sync is due and what the header says about sync."""

    interval: timedelta
    due: datetime | None = None
    failures: int = 0
    """Failed syncs in a row: the next retry waits twice as long each time."""
    state: str = "syncing"
    pending: int | None = None
    last_sync_at: datetime | None = None
    loaded: bool = False
    """The stored last sync and the pending count were read (by the first sync)."""
    running: bool = False
    again: bool = False
    """Sync once more when the running one ends (asked for during a sync)."""
    asked: bool = False
    """... and the user asked for it (`s`): say how it went."""
    dirty: bool = False
    """The store changed during a sync: count the pending changes again after it."""
    epoch: int = 0
    """Bumped when a sync ends: a count of pending changes started before it is stale."""
    said: str | None = None
    """The failure last shown to the user: a retry that fails the same way is not."""

    def changed(self, now: datetime) -> None:
        """A change was recorded: push it shortly (while failing, at the next retry)."""
        soon = now + DEBOUNCE
        self.due = soon if self.failures == 0 or self.due is None else max(self.due, soon)
        self.dirty = self.dirty or self.running

    def is_due(self, now: datetime) -> bool:
        return not self.running and self.due is not None and now >= self.due

    def succeeded(self, now: datetime, pending: int) -> None:
        self.failures, self.state, self.said = 0, "online", None
        self.last_sync_at, self.pending = now, pending
        self.due = now + self.interval

    def failed(self, now: datetime, offline: bool) -> timedelta:
        """Record a failure; the wait before the next attempt."""
        self.failures += 1
        self.state = "offline" if offline else "error"
        delay = retry_delay(self.failures)
        self.due = now + delay
        return delay

    def badge(self, zone: tzinfo, now: datetime) -> tuple[str, str]:
        """(text, state) for the header, e.g. ('2 pending · synced 09:14 · online', 'online')."""
        pending = "… pending" if self.pending is None else f"{self.pending} pending"
        if self.last_sync_at is None:
            last = "never synced"
        elif self.last_sync_at.astimezone(zone).date() == now.astimezone(zone).date():
            last = f"synced {local_time(self.last_sync_at, zone)}"
        else:
            last = f"synced {local_stamp(self.last_sync_at, zone, now.astimezone(zone).year)}"
        return f"{pending} · {last} · {STATES[self.state]}", self.state


def _seconds(delay: timedelta) -> str:
    seconds = int(delay.total_seconds())
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class SyncingApp(App[None]):
    """The app's side of sync: when to run it, the worker, and what the user is told."""

    sync_badge: reactive[tuple[str, str]] = reactive(("", ""))
    """(text, state) of the header's sync line; empty text: nothing is shown."""

    settings: Settings
    clock: Clock
    container: Container | None
    timer_screen: TimerScreen
    sync_plan: SyncPlan | None = None
    """None while sync is off (not configured, the store not open, or on Postgres)."""

    def start_syncing(self) -> None:
        """The store is open: sync now, then as changes come and every interval."""
        if self.container is None or not sync_configured(self.settings):
            return
        if runs_on_postgres(self.settings):
            return  # `s` says why
        interval = timedelta(seconds=self.settings.sync.interval_seconds)
        self.sync_plan = SyncPlan(interval, due=self.clock.now())
        self.set_interval(CHECK_SECONDS, self.sync_if_due, name="sync schedule")
        self.sync_if_due()

    def sync_if_due(self) -> None:
        """Called every second: start a sync if the clock says one is due."""
        plan = self.sync_plan
        if plan is not None and plan.is_due(self.clock.now()):
            self.begin_sync()

    def action_sync_now(self) -> None:
        if not sync_configured(self.settings):
            return
        if runs_on_postgres(self.settings):
            self.notify(ON_POSTGRES, title="Sync", severity="warning", timeout=10)
        elif self.sync_plan is None:
            self.no_store()
        else:
            self.begin_sync(manual=True)

    def no_store(self) -> None:
        """Say why an action that needs the store cannot act yet (the app says it)."""

    def note_change(self) -> None:
        """The store changed: show the new pending count and sync shortly."""
        plan = self.sync_plan
        if plan is None:
            return
        plan.changed(self.clock.now())
        if not plan.running:
            self.count_pending()

    def begin_sync(self, manual: bool = False) -> None:
        plan = self.sync_plan
        if plan is None:
            return
        if plan.running:
            # Never cancel a sync midway (the worker is exclusive): run another after it.
            plan.again, plan.asked = True, plan.asked or manual
            return
        plan.running, plan.state = True, "syncing"
        self._show_badge()
        self.run_sync(manual)

    async def stop_syncing(self) -> None:
        """Before the store closes: a sync midway stops (the outbox keeps what it had)."""
        for worker in list(self.workers):
            if worker.group in ("sync", "sync-count"):
                worker.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(worker.wait(), timeout=5)

    def _show_badge(self) -> None:
        plan, container = self.sync_plan, self.container
        if plan is not None and container is not None:
            self.sync_badge = plan.badge(container.zone, self.clock.now())

    # -- the workers -------------------------------------------------------------------

    @work(exclusive=True, group="sync", exit_on_error=False)
    async def run_sync(self, manual: bool = False) -> None:
        """Sync until no further sync was asked for meanwhile; never raises."""
        plan, container = self.sync_plan, self.container
        if plan is None or container is None:
            if plan is not None:
                plan.running = False
            return
        from app.bootstrap import sync_target
        from storage.sync import read_state, sync

        try:
            while True:
                plan.again = False
                try:
                    if not plan.loaded:  # the first sync: show what is known so far
                        plan.last_sync_at = (await read_state(container.repo)).last_sync_at
                        plan.pending = await container.repo.pending_changes()
                        plan.loaded = True
                        self._show_badge()
                    target = sync_target(self.settings)
                    if target is None:
                        return
                    report = await sync(container.repo, target, self.clock.now())
                except Exception as exc:
                    self._sync_failed(exc, manual)
                else:
                    self._synced(report, manual)
                if not plan.again:
                    break
                manual, plan.asked = plan.asked, False
            if plan.dirty:
                plan.dirty = False
                plan.pending = await container.repo.pending_changes()
        except Exception:  # the local store failing to count: the next sync says why
            pass
        finally:
            plan.running = False
            plan.epoch += 1
            self._show_badge()

    @work(exclusive=True, group="sync-count", exit_on_error=False)
    async def count_pending(self) -> None:
        plan, container = self.sync_plan, self.container
        if plan is None or container is None:
            return
        epoch = plan.epoch
        try:
            pending = await container.repo.pending_changes()
        except Exception:  # shown by the flow that failed, or by the next sync
            return
        if not plan.running and plan.epoch == epoch:
            plan.pending = pending
            self._show_badge()

    # -- what the user is told ---------------------------------------------------------

    def _sync_failed(self, exc: Exception, manual: bool) -> None:
        plan = self.sync_plan
        assert plan is not None
        offline = isinstance(exc, UnavailableError)
        delay = plan.failed(self.clock.now(), offline)
        title, message = describe(exc)
        if not manual and plan.said == message:
            return  # said already; the header keeps showing it
        plan.said = message
        then = f"Retrying in {_seconds(delay)}"
        if offline:
            then += "; the timer works offline and nothing is lost"
        self.notify(
            visible(f"Sync: {message}. {then}."),
            title=visible(f"Sync · {title}"),
            severity="warning" if offline else "error",
            timeout=10,
            markup=False,
        )

    def _synced(self, report: SyncReport, manual: bool) -> None:
        plan = self.sync_plan
        assert plan is not None
        recovered = plan.failures > 0
        plan.succeeded(self.clock.now(), report.pending)
        if report.adopted:
            self.notify(
                visible(f"This database now belongs to sync user {report.user}."),
                title="Sync",
                timeout=8,
                markup=False,
            )
        if report.rejected:
            first = report.rejected[0]
            self.notify(
                visible(
                    f"The server rejected {_plural(len(report.rejected), 'change')}: "
                    f"{first.reason}. `focus sync --rejected` lists them."
                ),
                title="Sync · changes rejected",
                severity="error",
                timeout=12,
                markup=False,
            )
        if report.skipped:
            self.notify(
                visible(
                    f"Skipped {_plural(len(report.skipped), 'row')} from the server: "
                    f"{report.skipped[0]}"
                ),
                title="Sync · rows skipped",
                severity="warning",
                timeout=12,
                markup=False,
            )
        if manual or recovered:
            self.notify(
                f"{'Back online: p' if recovered else 'P'}ushed {report.pushed}, "
                f"pulled {report.pulled}; {report.pending} pending.",
                title="Synced",
                timeout=5,
            )
        if report.pulled:
            # Another device's sessions: the open one and today's totals may differ now.
            self.timer_screen.recheck()
            self.timer_screen.refresh_summary()
