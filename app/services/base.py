"""What every flow and read shares: the service's parts and one flow's transaction."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import tzinfo
from typing import Any, Concatenate, ParamSpec, TypeVar

from app.clock import Clock
from app.domain.errors import ChangedError
from app.domain.models import Session
from app.presenters import session_dict
from app.services.rules import EventSink, TimerRules
from storage.repository import Repository, Transaction

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound="ServiceBase")
ATTEMPTS = 3


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

    __slots__ = ("committed", "events", "tx")

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.events: list[tuple[str, Session]] = []
        self.committed = False

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
                self._fire(flow.events)

    def _fire(self, events: list[tuple[str, Session]]) -> None:
        if self.events is None:
            return
        now = self.clock.now()
        for event, session in events:
            self.events(event, session_dict(session, now))
