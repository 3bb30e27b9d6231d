"""Sync: a device's SQLite store and the shared Postgres, push first, then pull.

The device works offline; every change it makes writes an outbox row in the same local
transaction (`storage.outbox`). `sync()` connects as the user's own login role, checks the
server's schema and setup against this version (one line naming the side to upgrade, and
nothing pushed, when they differ), makes the database the server user's on the first sync
(`device.claim`), pushes the outbox in batches with exactly-once effects (`push`), pulls
what changed on the server since the device's cursor (`pull`), and records when it last
succeeded. See README "Sync" for the rules in one place.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from app.domain.errors import ConfigError, FocusError, UnavailableError
from storage.pg_connect import Target, Timeouts, parse_url, statement_error, with_password
from storage.sql import SqlRepository
from storage.sync.device import Rejection, read_state, rejections, save_state
from storage.sync.pull import pull
from storage.sync.push import push
from storage.sync.server import Link, settle_gone

SYNC_PROTOCOL = 1
"""The shape of what a push sends; the server's setup (SERVER_SETUP 3) speaks it."""

__all__ = ["SYNC_PROTOCOL", "SyncReport", "SyncTarget", "read_state", "rejections", "sync"]


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """Where a device syncs to, and how patiently."""

    url: str
    password: str | None = None
    """From FOCUS_SYNC_PASSWORD, for a URL without one."""
    timeouts: Timeouts = field(default_factory=Timeouts)
    batch_size: int = 1000
    max_pause: timedelta = timedelta(minutes=120)
    """`[timer] max_pause_minutes`: a paused session expires after this long."""

    def target(self) -> Target:
        target = parse_url(self.url, "sync.url")
        if self.password and urlsplit(self.url.strip()).password is None:
            return parse_url(with_password(self.url, target.user, self.password), "sync.url")
        return target


@dataclass
class SyncReport:
    pushed: int = 0
    pulled: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    """Changes the server refused in this sync (all of them: `rejections()`)."""
    skipped: list[str] = field(default_factory=list)
    """Rows from the server this device refused to apply."""
    kept: int = 0
    pending: int = 0
    round_trips: int = 0
    seconds: float = 0.0
    batches: int = 0
    settled: int = 0
    """Sessions that devices gone quiet left open past their grace window, expired now."""
    adopted: bool = False
    user: str = ""
    server: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "pushed": self.pushed,
            "pulled": self.pulled,
            "rejected": len(self.rejected),
            "pending": self.pending,
            "round_trips": self.round_trips,
            "seconds": round(self.seconds, 3),
            "batches": self.batches,
            "settled": self.settled,
            "skipped": self.skipped,
            "kept_local": self.kept,
            "adopted": self.adopted,
            "user": self.user,
            "server": self.server,
            "rejections": [r.as_json() for r in self.rejected],
        }


async def sync(repo: SqlRepository, to: SyncTarget, now: datetime) -> SyncReport:
    """Push this device's pending changes, then pull the server's; one FocusError (exit 1
    unreachable or refused, exit 2 configuration) when it cannot, with nothing lost."""
    from storage.postgres import check_schema, open_conn, whoami
    from storage.sync.device import claim

    started = time.perf_counter()
    try:
        target = to.target()
        report = SyncReport(server=target.shown, user=target.user)
        conn = await open_conn(target, to.timeouts)
    except ConfigError:
        raise
    except FocusError as exc:
        await _note_error(repo, str(exc))
        raise
    link = Link(conn)
    try:
        try:
            await check_schema(conn)
            user_id = await whoami(conn)
            link.round_trips += 2
            report.adopted = await claim(repo, user_id, target.user, target.shown)
            pushed = await push(link, repo, now, to.batch_size)
            report.settled = await settle_gone(link, repo.identity.client_id, now, to.max_pause)
            pulled = await pull(link, repo, now)
        except FocusError:
            raise
        except Exception as exc:
            error = statement_error(exc, target, to.timeouts) or _broken(exc, link, target)
            if error is None:
                raise
            raise error from None
        await save_state(repo, pull_cursor=pulled.cursor, last_sync_at=now, last_error=None)
    except ConfigError:
        raise  # configuration refused (another user, a copy, versions): the file stays as it was
    except FocusError as exc:
        await _note_error(repo, str(exc))
        raise
    finally:
        await conn.close()
    report.pushed = pushed.pushed
    report.rejected = pushed.rejected
    report.batches = pushed.batches
    report.pulled = pulled.pulled
    report.skipped = pulled.skipped
    report.kept = pulled.kept
    report.pending = await repo.pending_changes()
    report.round_trips = link.round_trips
    report.seconds = time.perf_counter() - started
    return report


def _broken(exc: Exception, link: Link, target: Target) -> FocusError | None:
    """The server dropped the connection between two statements (a terminated backend, a
    restart): asyncpg may then refuse the next one as an internal state error."""
    from storage.pg_connect import load_asyncpg

    if link.raw.is_closed() or isinstance(exc, load_asyncpg().InternalClientError):
        return UnavailableError(f"lost the connection to Postgres at {target.shown}")
    return None


async def _note_error(repo: SqlRepository, message: str) -> None:
    with contextlib.suppress(FocusError):  # the store itself failing: the first error counts
        await save_state(repo, last_error=message[:500])
