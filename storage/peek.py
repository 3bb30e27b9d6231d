"""A read-only look at the open session with the standard `sqlite3` module.

`focus status` and `focus statusline` run from shell prompts and tmux many times a minute;
importing SQLAlchemy alone costs more than their whole budget. This path reads one row and
never writes; anything unusual (no file, another schema revision, a session that needs
settling) falls back to the full repository.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.domain.models import Session
from storage.codec import session_from_row
from storage.migrations import HEAD

# Kept in step with storage.schema.sessions by tests/integration/test_peek.py.
UUID_COLUMNS = frozenset({"id", "user_id", "client_id"})
DATETIME_COLUMNS = frozenset(
    {
        "started_at",
        "ends_at",
        "paused_at",
        "completed_at",
        "abandoned_at",
        "expired_at",
        "created_at",
        "updated_at",
    }
)
JSON_COLUMNS = frozenset({"tags"})


class PeekUnavailable(Exception):
    """The quick path cannot answer; use the repository."""


def _typed(row: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row is not iterable by key
        value = row[key]
        if value is not None:
            if key in UUID_COLUMNS:
                value = uuid.UUID(value)
            elif key in DATETIME_COLUMNS:
                value = datetime.fromisoformat(value).replace(tzinfo=UTC)
            elif key in JSON_COLUMNS:
                value = json.loads(value)
        out[key] = value
    return out


def peek_open_session(path: Path) -> Session | None:
    """The open session of this device's user, read without writing; or PeekUnavailable."""
    if not path.is_file():
        raise PeekUnavailable("no database yet")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise PeekUnavailable(str(exc)) from None
    try:
        conn.row_factory = sqlite3.Row
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if version is None or version[0] != HEAD:
            raise PeekUnavailable("schema needs an upgrade")
        ids = dict(
            conn.execute("SELECT key, value FROM meta WHERE key IN ('user_id', 'client_id')")
        )
        if len(ids) != 2:
            raise PeekUnavailable("database has no identity yet")
        row = conn.execute(
            "SELECT * FROM sessions WHERE user_id = ? AND client_id = ? "
            "AND status IN ('active', 'paused')",
            (uuid.UUID(ids["user_id"]).hex, uuid.UUID(ids["client_id"]).hex),
        ).fetchone()
    except (sqlite3.Error, ValueError) as exc:
        raise PeekUnavailable(str(exc)) from None
    finally:
        conn.close()
    return session_from_row(_typed(row)) if row is not None else None
