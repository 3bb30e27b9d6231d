"""The repository on Postgres (asyncpg): the same SQL as the device, the user from the login.

`[storage] url` (or FOCUS_STORAGE_URL) points a device straight at a shared server that
`focus server init` prepared. The user is the one the login role maps to in `focus_users`
(row-level security shows a role nothing else); no value the client sends can name another.
Every write bumps the user's change counter in `user_state`, whose row lock orders the
user's writers; every row written carries the new stamp, so other devices can pull what
changed in commit order (the unit of work: `storage.pg_unit`). Connecting, timeouts and
one-line errors: `storage.pg_connect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, tzinfo
from typing import Any

from app.domain.errors import (
    ConfigError,
    StorageError,
)
from app.domain.models import Session
from storage.codec import SESSION_COLUMNS, session_from_row
from storage.filing import settle_zone
from storage.migrations import HEAD
from storage.pg_connect import (
    Target,
    Timeouts,
    connect_error,
    load_asyncpg,
    parse_url,
    raw_connect,
    statement_error,
    with_password,
)
from storage.pg_unit import StampRecorder
from storage.repository import Identity
from storage.sql import SqlRepository
from storage.statements import PARAM

__all__ = [
    "SERVER_SETUP",
    "PgConn",
    "Target",
    "Timeouts",
    "connect_error",
    "open_pg_repository",
    "parse_url",
    "raw_connect",
    "session_from_pg",
    "statement_error",
    "with_password",
]

DIRECT_CLIENTS = uuid.UUID("6f1d7a52-3c1e-4f0e-9a55-f0c05e5a7d10")
"""Namespace of the client id every direct connection of a user shares: to the open-session
rule, all of a user's direct-to-Postgres processes are one device."""


def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """`:name` parameters as asyncpg's `$n` (casts such as `::uuid[]` left alone)."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${names.setdefault(match.group(1), len(names) + 1)}"

    return PARAM.sub(number, sql), tuple(names)


class PgConn:
    """The store's connection protocol over one asyncpg connection."""

    uuid_text = "{}::text"

    def __init__(self, raw: Any, target: Target, timeouts: Timeouts) -> None:
        self.raw = raw
        self.target = target
        self.timeouts = timeouts
        asyncpg = load_asyncpg()
        self.integrity_errors: tuple[type[Exception], ...] = (
            asyncpg.IntegrityConstraintViolationError,
        )
        self._sql: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._tx: Any = None
        # asyncpg runs one operation at a time per connection: calls from concurrent tasks
        # (the app's workers) queue here instead of failing.
        self._lock = asyncio.Lock()

    @property
    def where(self) -> str:
        return self.target.shown

    @staticmethod
    def value(value: Any) -> Any:
        if isinstance(value, datetime) and (value.tzinfo is None or value.utcoffset() is None):
            raise ValueError(f"naive datetime refused: {value!r}")
        return value

    @staticmethod
    def session(values: Sequence[Any]) -> Session:
        return session_from_pg(values)

    @staticmethod
    def constraint(exc: Exception) -> str:
        return str(getattr(exc, "constraint_name", "") or "")

    def _args(self, sql: str, params: Any) -> tuple[str, list[Any]]:
        found = self._sql.get(sql)
        if found is None:
            found = self._sql[sql] = positional(sql)
        text, names = found
        if not names:
            return text, []
        return text, [params[n] for n in names]

    @contextlib.contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except self.integrity_errors:
            raise
        except Exception as exc:
            error = statement_error(exc, self.target, self.timeouts)
            if error is None:
                raise
            raise error from None

    async def fetch(self, sql: str, params: Any = ()) -> list[Any]:
        text, args = self._args(sql, params)
        async with self._lock:
            with self._translated():
                return list(await self.raw.fetch(text, *args))

    async def execute(self, sql: str, params: Any = ()) -> int:
        text, args = self._args(sql, params)
        async with self._lock:
            with self._translated():
                status: str = await self.raw.execute(text, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def executemany(self, sql: str, rows: Any) -> None:
        rows = list(rows)
        if not rows:
            return
        text, _ = self._args(sql, rows[0])
        names = self._sql[sql][1]
        async with self._lock:
            with self._translated():
                await self.raw.executemany(text, [[r[n] for n in names] for r in rows])

    async def begin(self) -> None:
        async with self._lock:
            with self._translated():
                self._tx = self.raw.transaction()
                await self._tx.start()

    async def commit(self) -> None:
        tx, self._tx = self._tx, None
        async with self._lock:
            with self._translated():
                await tx.commit()

    async def rollback(self) -> None:
        tx, self._tx = self._tx, None
        if tx is None:
            return
        async with self._lock:
            with self._translated():
                await tx.rollback()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.raw.close(), timeout=self.timeouts.connect)
        if not self.raw.is_closed():
            self.raw.terminate()


def _uuid(value: Any) -> uuid.UUID | None:
    # asyncpg's UUID is a uuid.UUID (equal and hashing alike): kept as it comes.
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(bytes=value.bytes)


_UUIDS = tuple(i for i, c in enumerate(SESSION_COLUMNS) if c in ("id", "user_id", "client_id"))


def session_from_pg(values: Sequence[Any]) -> Session:
    """A session from a row selected as `SESSION_COLUMNS` (ValueError/TypeError if bad)."""
    row = dict(zip(SESSION_COLUMNS, values, strict=True))
    for i in _UUIDS:
        row[SESSION_COLUMNS[i]] = _uuid(values[i])
    try:
        return session_from_row(row)
    except (KeyError, AttributeError) as exc:
        raise ValueError(str(exc)) from None


# -- opening -------------------------------------------------------------------------------


async def _setup(raw: Any) -> None:
    for kind in ("json", "jsonb"):
        await raw.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def open_conn(target: Target, timeouts: Timeouts) -> PgConn:
    raw = await raw_connect(target, timeouts)
    try:
        await _setup(raw)
    except BaseException:
        raw.terminate()
        raise
    return PgConn(raw, target, timeouts)


SERVER_SETUP = 5
"""What `focus server init` last applied besides the schema (grants, policies, functions):
2 = policies on an inline lookup, and `focus_guard()` for the one-statement writes;
3 = the server's checks of what clients write (triggers) and sync protocol 1;
4 = clients granted deletions (the tracks schema);
5 = the server's checks of libraries, tracks and deletions, and a change counter that
never goes back."""


def _setup_error(conn: PgConn, setup: Any) -> StorageError | None:
    try:
        applied = int(setup)
    except (TypeError, ValueError):
        applied = 0
    if applied == SERVER_SETUP:
        return None
    if applied > SERVER_SETUP:
        return StorageError(f"{conn.where} was set up by a newer focus; upgrade focus")
    return StorageError(
        f"{conn.where} was set up by an older focus; run `focus server init --admin-url URL`"
    )


async def check_schema(conn: PgConn) -> None:
    asyncpg = load_asyncpg()
    try:
        rows = await conn.raw.fetch(
            "SELECT version_num, (SELECT value FROM meta WHERE key = 'server_setup') "
            "FROM alembic_version"
        )
    except (asyncpg.UndefinedTableError, asyncpg.InsufficientPrivilegeError):
        raise StorageError(
            f"{conn.where} holds no Focus schema; run `focus server init --admin-url URL`"
        ) from None
    except Exception as exc:
        raise statement_error(exc, conn.target, conn.timeouts) or exc from None
    revision = str(rows[0][0]) if rows else None
    if revision == HEAD:
        error = _setup_error(conn, rows[0][1])
        if error is not None:
            raise error
        return
    from storage.migrate import known_revisions

    if revision is not None and revision not in known_revisions():
        raise StorageError(
            f"{conn.where} has schema {revision}, newer than this focus knows ({HEAD}); "
            "upgrade focus"
        )
    raise StorageError(
        f"{conn.where} has schema {revision or 'none'}, older than this focus ({HEAD}); "
        "run `focus server init --admin-url URL` to upgrade it"
    )


async def whoami(conn: PgConn) -> uuid.UUID:
    """The user the login role maps to; the server decides, not the client."""
    try:
        rows = await conn.raw.fetch(
            "SELECT user_id FROM focus_users WHERE role_name = current_user"
        )
    except Exception as exc:
        raise statement_error(exc, conn.target, conn.timeouts) or exc from None
    if len(rows) != 1:
        raise ConfigError(
            f"role {conn.target.user} is not a Focus user on {conn.where}; "
            "create one with `focus server add-user NAME --admin-url URL`"
        )
    return uuid.UUID(bytes=rows[0][0].bytes)


def direct_client(user_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(DIRECT_CLIENTS, str(user_id))


async def open_pg_repository(
    url: str,
    zone: tzinfo,
    *,
    timeouts: Timeouts | None = None,
    concurrent: bool = False,
    zone_configured: bool = True,
) -> SqlRepository:
    """The repository of the user `url` logs in as. `concurrent` (the app) writes on a
    connection of its own, so a read never runs inside another task's transaction."""
    target = parse_url(url)
    timeouts = timeouts or Timeouts()
    conn = await open_conn(target, timeouts)
    try:
        await check_schema(conn)
        user_id = await whoami(conn)

        async def writer() -> PgConn:
            return await open_conn(target, timeouts)

        repo = SqlRepository(
            conn,
            Identity(user_id, direct_client(user_id)),
            zone,
            writer if concurrent else None,
            concurrent=concurrent,
            recorder=StampRecorder(),
        )
        stored = await repo.recorder.recorded_zone(conn, repo.identity)
        await settle_zone(repo, stored, zone, zone_configured)
    except BaseException:
        await conn.close()
        raise
    return repo
