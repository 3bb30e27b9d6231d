"""What every flow and read shares: the service's parts and one flow's transaction."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from app.clock import Clock
from app.domain.errors import ChangedError
from app.domain.models import Session
from app.paths import user_dir
from app.presenters import session_dict
from app.services.rules import EventSink, TimerRules
from storage.repository import Repository, Transaction

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="ServiceBase")
ATTEMPTS = 3
SEEN_KEY = "seen_ending_at"
"""This device's own value: every session that ended at or before it has been told."""


def retried(
    flow: Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Run a flow again when the store found that what it read changed before it could
    write (it wrote nothing): the next run reads the change. Events fire only on commit."""

    @functools.wraps(flow)
    async def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await flow(self, *args, **kwargs)
            except ChangedError:
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    return run


class Flow:
    """One flow's transaction and the events it produced, fired only once it commits."""

    __slots__ = ("committed", "events", "seen", "tx")

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.events: list[tuple[str, Session]] = []
        self.committed = False
        self.seen: datetime | None = None
        """An ending told to the user, kept outside the store once this commits."""

    def emit(self, event: str, session: Session) -> None:
        self.events.append((event, session))

    async def commit(self) -> None:
        await self.tx.commit()
        self.committed = True


class ServiceBase:
    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        zone: tzinfo,
        rules: TimerRules | None = None,
        events: EventSink | None = None,
    ) -> None:
        self.repo = repo
        self.clock = clock
        self.zone = zone
        self.rules = rules or TimerRules()
        self.events = events
        self.state_dir: Path | None = None
        """Where this machine keeps its own values when the store is a shared server (the
        user's state folder, $XDG_STATE_HOME/focus, unless set)."""

    # -- helpers -----------------------------------------------------------------------

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Flow]:
        """One flow: the repository's transaction and the events it produced. The events are
        fired once it has committed, and dropped if it never does, so concurrent flows (the
        app's workers) never report or lose each other's changes."""
        flow = None
        try:
            async with self.repo.transaction() as tx:
                flow = Flow(tx)
                yield flow
        finally:
            if flow is not None and flow.committed:
                if flow.seen is not None:
                    self._write_state(SEEN_KEY, instant_text(flow.seen))
                self._fire(flow.events)

    def _fire(self, events: list[tuple[str, Session]]) -> None:
        if self.events is None:
            return
        now = self.clock.now()
        for event, session in events:
            self.events(event, session_dict(session, now))

    # -- what this device has told its user ------------------------------------------------

    def _state_file(self) -> Path:
        folder = self.state_dir or Path(user_dir("state"))
        return folder / f"device-{self.repo.identity.client_id}.json"

    def _read_state(self) -> dict[str, str]:
        try:
            data = json.loads(self._state_file().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
        )

    def _write_state(self, key: str, value: str) -> None:
        """This machine's own value in a small JSON file, replaced atomically; a file that
        cannot be written only means the user may be told something twice."""
        path = self._state_file()
        data = self._read_state() | {key: value}
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(temp, path)
        except OSError:
            temp.unlink(missing_ok=True)

    async def _seen_until(self) -> datetime | None:
        """Every ending at or before this instant has been told to this device's user."""
        if self.repo.keeps_device_state:
            text = await self.repo.device_value(SEEN_KEY)
        else:
            text = self._read_state().get(SEEN_KEY)
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    async def _note_seen(self, flow: Flow, at: datetime) -> None:
        """The user is told of an ending at `at` by this flow: kept with it on a device
        (in its transaction), else in this machine's state file once it commits."""
        if not await flow.tx.set_device_value(SEEN_KEY, instant_text(at)):
            flow.seen = at


def instant_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")
