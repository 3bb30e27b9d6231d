"""The local SQLite file through the standard `sqlite3` module: safe opening, pragmas, errors.

Paths are paths: a file is opened through a `file:` URI built by quoting the resolved path, so
a `?` or `#` in a name can never become a URI parameter. Reads open the file read-only and
never create it; a damaged file is detected on open and never written; every `sqlite3` error
leaves this module as one of the domain's errors (busy, damaged, read-only, unavailable).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from app.domain.errors import (
    BusyError,
    DamagedError,
    FocusError,
    ReadOnlyError,
    StorageError,
)
from storage.codec import session_from_sqlite, to_sqlite

SQLITE_MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 5000
QUICK_CHECK_MAX_BYTES = 8 * 1024 * 1024
"""Files up to this size get a full `PRAGMA quick_check` on every open (a few ms); larger
ones a check of the schema pages (see `check_health`)."""

Params = Mapping[str, Any] | Sequence[Any]

_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26


def shown(path: Path | str) -> str:
    """A path as text that is safe to print (undecodable bytes and controls escaped)."""
    text = os.fsdecode(path)
    return "".join(
        c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else repr(c)[1:-1] for c in text
    )


def error_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of an error (0 when the driver gave none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # older drivers: fall back to the message, SQLite's words
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            return _BUSY
        if "malformed" in text or "not a database" in text:
            return _CORRUPT
        if "readonly" in text or "read-only" in text:
            return _READONLY
        return 0
    return int(code) & 0xFF


def translate(exc: sqlite3.Error, path: Path | str) -> FocusError:
    """The domain error for a `sqlite3` error on `path`: one line, never SQL or parameters."""
    where = shown(path)
    code = error_code(exc)
    if code in (_BUSY, _LOCKED):
        return BusyError(
            f"the database {where} is locked by another process; nothing was changed, try again"
        )
    if code in (_CORRUPT, _NOTADB):
        return DamagedError(
            f"the database {where} is damaged ({exc}); it was not changed: restore a backup "
            "(focus.db.bak-*) or recover it with `sqlite3 .recover`"
        )
    if code == _READONLY:
        return ReadOnlyError(f"the database {where} is read-only")
    if code == _FULL:
        return StorageError(f"cannot write the database {where}: the disk is full")
    if code == _CANTOPEN:
        return StorageError(f"cannot open database {where}: {exc}")
    if code == _IOERR:
        return StorageError(f"cannot read or write the database {where}: disk I/O error")
    return StorageError(f"database error in {where}: {exc}")


def file_uri(path: Path, **params: str) -> str:
    uri = path.resolve().as_uri()  # percent-quotes `?`, `#` and `%` in the name
    return uri + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def _decode_text(raw: bytes) -> str:
    # Text that is not valid UTF-8 (written by another tool, or a damaged page) must not make
    # a whole query fail: it is read with replacement characters.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace")


def _configure(raw: sqlite3.Connection, writable: bool) -> None:
    raw.text_factory = _decode_text
    if writable:
        raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=FULL")
    raw.execute("PRAGMA foreign_keys=ON")
    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def connect(path: Path, *, writable: bool) -> sqlite3.Connection:
    """A connection to an existing file (never creates one); writes go in `BEGIN IMMEDIATE`.
    The caller translates errors (`translate`)."""

    def open_uri(uri: str) -> sqlite3.Connection:
        return sqlite3.connect(
            uri,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
            uri=True,
        )

    # Reads open read-write too, and never write: the last connection to close then removes
    # the -wal and -shm files (a read-only one cannot), so a read leaves nothing behind. A
    # file that cannot be written is opened read-only, and where not even the -shm file can
    # be made (a read-only mount), immutable.
    raw = open_uri(file_uri(path, mode="rw"))
    if not writable:
        try:
            raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            raw.close()
            if error_code(exc) not in (_CANTOPEN, _READONLY):
                raise
            raw = open_uri(file_uri(path, mode="ro", immutable="1"))
    try:
        _configure(raw, writable)
    except BaseException:
        raw.close()
        raise
    return raw


async def check_health(conn: SyncConn) -> None:
    """Refuse a damaged file before anything reads or writes it (DamagedError).

    Small files get SQLite's `quick_check` (every page and index, a few ms); on large ones
    the schema and the meta table are read, so opening stays cheap at a million rows.
    """
    try:
        size = conn.path.stat().st_size
    except OSError:
        size = 0
    if size <= QUICK_CHECK_MAX_BYTES:
        problems = [r[0] for r in await conn.fetch("PRAGMA quick_check(5)") if r[0] != "ok"]
        if problems:
            first = " ".join(problems[0].replace("*** in database main ***", "").split())
            raise DamagedError(
                f"the database {shown(conn.path)} is damaged ({first}); it was not "
                "changed: restore a backup (focus.db.bak-*) or recover it with "
                "`sqlite3 .recover`"
            )
    else:
        await conn.fetch("SELECT count(*) FROM sqlite_master")
        await conn.fetch("SELECT count(*) FROM meta")


def inspect_file(path: Path) -> str | None:
    """The Focus schema revision stored in `path`, or None for a file to create.

    Never writes and never creates files: a path that is not a Focus database is refused
    before anything (a WAL switch, a `-shm` file) touches it.
    """
    if path.is_dir():
        raise StorageError(f"database path {shown(path)} is a directory")
    if not path.exists():
        return None
    if not path.is_file():
        raise StorageError(f"database path {shown(path)} is not a regular file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StorageError(f"cannot read database {shown(path)}: {exc.strerror or exc}") from None
    if not header:
        return None
    if header != SQLITE_MAGIC:
        raise StorageError(f"{shown(path)} is not a SQLite database; refusing to touch it")
    # Without a -wal file beside it, everything is in the main file: `immutable` reads it
    # exactly and creates nothing. With one, the normal read-only open sees its content.
    wal = Path(f"{os.fsdecode(path)}-wal")
    params = {"mode": "ro"} if wal.exists() else {"mode": "ro", "immutable": "1"}
    try:
        conn = sqlite3.connect(file_uri(path, **params), uri=True)
        conn.text_factory = _decode_text
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables:
                return None
            if "alembic_version" not in tables or "meta" not in tables:
                raise StorageError(f"{shown(path)} is a SQLite database but not a Focus database")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    return str(row[0]) if row else None


def backup(path: Path, revision: str, now: datetime) -> Path:
    """Copy the database aside (WAL content included) before a schema upgrade."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    try:
        src = sqlite3.connect(file_uri(path, mode="ro"), uri=True)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    return target


@contextlib.contextmanager
def translated(path: Path) -> Iterator[None]:
    """`sqlite3` errors leave as domain errors; an integrity error stays itself, for the
    store to say which constraint it means."""
    try:
        yield
    except sqlite3.IntegrityError:
        raise
    except sqlite3.Error as exc:
        raise translate(exc, path) from None


_UNIQUE = "UNIQUE constraint failed: "
# SQLite names the columns of a failed unique index, not the index: the store's names.
_INDEXES = {
    "sessions.user_id, sessions.client_id": "uq_sessions_open",
    "sessions.user_id, sessions.id": "pk_sessions",
    "sessions.id": "pk_sessions",
}


class SyncConn:
    """The store's connection protocol over a `sqlite3` connection, run inline.

    The CLI runs one action per process: calling SQLite directly is the fastest path (no
    thread hops), and blocking the event loop there costs nothing.
    """

    integrity_errors: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    # UUIDs are stored as 32 hex digits: dashed as str(uuid) writes them.
    uuid_text = (
        "(substr({0}, 1, 8) || '-' || substr({0}, 9, 4) || '-' || substr({0}, 13, 4) || '-' "
        "|| substr({0}, 17, 4) || '-' || substr({0}, 21))"
    )

    def __init__(self, raw: sqlite3.Connection, path: Path) -> None:
        self.raw = raw
        self.path = path

    @property
    def where(self) -> str:
        return shown(self.path)

    value = staticmethod(to_sqlite)
    session = staticmethod(session_from_sqlite)

    @staticmethod
    def constraint(exc: Exception) -> str:
        text = str(exc)
        if text.startswith(_UNIQUE):
            return _INDEXES.get(text[len(_UNIQUE) :], "")
        return ""

    async def begin(self) -> None:
        # Writers take the write lock up front, so two never deadlock mid-transaction.
        await self.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self.execute("COMMIT")

    async def rollback(self) -> None:
        await self.execute("ROLLBACK")

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        with translated(self.path):
            return self.raw.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        with translated(self.path):
            return self.raw.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with translated(self.path):
            self.raw.executemany(sql, rows)

    async def close(self) -> None:
        self.raw.close()


class ThreadConn(SyncConn):
    """The same protocol through aiosqlite, which runs the connection in its own thread (the
    TUI): a slow disk or a lock held by another process never blocks the event loop."""

    def __init__(self, aio: Any, path: Path) -> None:
        self.aio = aio
        self.path = path

    async def fetch(self, sql: str, params: Params = ()) -> list[Any]:
        with translated(self.path):
            return list(await self.aio.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Params = ()) -> int:
        with translated(self.path):
            cursor = await self.aio.execute(sql, params)
            count: int = cursor.rowcount
            await cursor.close()
            return count

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        with translated(self.path):
            await (await self.aio.executemany(sql, list(rows))).close()

    async def close(self) -> None:
        await self.aio.close()


async def open_conn(path: Path, *, writable: bool, threaded: bool) -> SyncConn:
    """A connection to the existing file at `path`, checked for damage before it is used."""
    conn: SyncConn
    try:
        if threaded:
            import aiosqlite

            aio = aiosqlite.Connection(lambda: connect(path, writable=writable), 64)
            await aio
            conn = ThreadConn(aio, path)
        else:
            conn = SyncConn(connect(path, writable=writable), path)
    except sqlite3.Error as exc:
        raise translate(exc, path) from None
    try:
        await check_health(conn)
    except BaseException:
        await conn.close()
        raise
    return conn
