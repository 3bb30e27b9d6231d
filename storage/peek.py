"""A read-only look at the open session with the standard `sqlite3` module, and no asyncio.

`focus status` and `focus statusline` run from shell prompts and tmux many times a minute;
this path reads one row and never writes; anything unusual (no file, another schema
revision, a session that needs settling) falls back to the full repository.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from app.domain.models import Session
from storage.codec import SESSION_COLUMNS, session_from_sqlite
from storage.migrations import HEAD
from storage.sqlite import file_uri


class PeekUnavailable(Exception):
    """The quick path cannot answer; use the repository."""


def peek_open_session(path: Path) -> Session | None:
    """The open session of this device's user, read without writing; or PeekUnavailable."""
    if not path.is_file():
        raise PeekUnavailable("no database yet")
    try:
        conn = sqlite3.connect(file_uri(path, mode="ro"), uri=True)
    except sqlite3.Error as exc:
        raise PeekUnavailable(str(exc)) from None
    try:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if version is None or version[0] != HEAD:
            raise PeekUnavailable("schema needs an upgrade")
        ids = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('user_id', 'client_id')")
        )
        if len(ids) != 2:
            raise PeekUnavailable("database has no identity yet")
        row = conn.execute(
            f"SELECT {', '.join(SESSION_COLUMNS)} FROM sessions WHERE user_id = ? "
            "AND client_id = ? AND status IN ('active', 'paused')",
            (uuid.UUID(ids["user_id"]).hex, uuid.UUID(ids["client_id"]).hex),
        ).fetchone()
        return session_from_sqlite(row) if row is not None else None
    except (sqlite3.Error, ValueError, TypeError) as exc:
        raise PeekUnavailable(str(exc)) from None
    finally:
        conn.close()
