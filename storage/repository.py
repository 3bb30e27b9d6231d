"""The Repository protocol the services use; storage adapters implement it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Protocol

from app.domain.models import Bucket, LedgerEntry, Mode, Session, Status


@dataclass(frozen=True, slots=True)
class Identity:
    """Who writes through this store: the user and this database's client (device) id."""

    user_id: uuid.UUID
    client_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Cursor:
    """Keyset position in history: the last row seen, newest first."""

    started_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class RollupRow:
    dim: str
    key: str
    mode: Mode
    counts: Bucket


class Transaction(Protocol):
    """One write transaction; rolled back unless `commit()` is called."""

    zone: tzinfo
    """The zone the stats cache is filed in (as recorded in the store, read in this tx)."""

    async def open_session(self) -> Session | None: ...

    async def get_session(self, session_id: uuid.UUID) -> Session | None: ...

    async def insert_session(self, session: Session) -> None: ...

    async def update_session(self, before: Session, after: Session) -> None:
        """Store `after` (its version must be higher), its outbox row and, when it just
        became terminal, its stats rollups."""
        ...

    async def add_ledger(self, entry: LedgerEntry) -> bool:
        """Append an award; False when its idempotency key was already used."""
        ...

    async def total_xp(self) -> int: ...

    async def focus_day_runs(self) -> tuple[int, date | None, int]:
        """Runs of consecutive days with a rewarded focus session, as
        `app.domain.rewards.day_runs` computes them."""
        ...

    async def set_device_value(self, key: str, value: str) -> bool:
        """Keep a value of this device's own in this transaction (never synced); False
        where the store keeps none (a shared server)."""
        ...

    async def commit(self) -> None: ...


class Repository(Protocol):
    identity: Identity
    zone: tzinfo
    """The zone the stats cache is filed in, as last read from the store."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def open_session(self) -> Session | None: ...

    async def get_session(self, session_id: uuid.UUID) -> Session | None: ...

    async def history(
        self,
        limit: int,
        before: Cursor | None = None,
        statuses: tuple[Status, ...] = (),
        modes: tuple[Mode, ...] = (),
    ) -> list[Session]: ...

    async def history_page(
        self,
        limit: int,
        before: Cursor | None = None,
        statuses: tuple[Status, ...] = (),
        modes: tuple[Mode, ...] = (),
    ) -> tuple[list[Session], Session | None]:
        """`history(...)` and this device's open session, read together."""
        ...

    def iter_sessions(self, page_size: int = 1000) -> AsyncIterator[Session]: ...

    async def rollups(self, dim: str, since_key: str | None = None) -> list[RollupRow]:
        """Stats buckets of one dimension (all, day, task, tag, reason), keys from `since_key`."""
        ...

    async def top(self, dim: str, limit: int) -> list[tuple[str, Bucket]]: ...

    async def totals_by_mode(self) -> dict[Mode, Bucket]: ...

    async def focus_day_runs(self) -> tuple[int, date | None, int]: ...

    async def total_xp(self) -> int: ...

    async def last_ended(self) -> Session | None:
        """This device's finished session started last."""
        ...

    @property
    def keeps_device_state(self) -> bool:
        """Whether `device_value` / `set_device_value` keep anything (a device's own file)."""
        ...

    async def device_value(self, key: str) -> str | None: ...

    async def set_device_value(self, key: str, value: str) -> bool: ...

    async def pending_changes(self) -> int: ...

    async def last_synced(self) -> datetime | None:
        """When this device last synced with the server (None on the server itself)."""
        ...

    async def filing_zone(self) -> tzinfo:
        """The zone the stats cache is filed in now: its days are that zone's days."""
        ...

    async def close(self) -> None: ...
