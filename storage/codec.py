"""Row <-> domain conversion, the values SQLite stores, and the JSON payload of the outbox.

SQLite has no UUID, time-zone or JSON types: UUIDs are stored as 32 hex digits, instants as
naive UTC text `YYYY-MM-DD HH:MM:SS.ffffff` (fixed width, so text order is time order) and
JSON as text, the formats the first schema revision was written with.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.models import LedgerEntry, Mode, Session, Status


def _us(delta: timedelta | None) -> int | None:
    if delta is None:
        return None
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _td(us: int | None) -> timedelta | None:
    return None if us is None else timedelta(microseconds=us)


def session_to_row(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "user_id": s.user_id,
        "client_id": s.client_id,
        "mode": s.mode.value,
        "status": s.status.value,
        "task_title": s.task_title,
        "tags": list(s.tags),
        "planned_seconds": int(s.planned.total_seconds()),
        "extended_us": _us(s.extended),
        "started_at": s.started_at,
        "ends_at": s.ends_at,
        "paused_at": s.paused_at,
        "paused_remaining_us": _us(s.paused_remaining),
        "pause_count": s.pause_count,
        "paused_us": _us(s.paused_total),
        "slept_us": _us(s.slept),
        "focused_us": _us(s.focused),
        "completed_at": s.completed_at,
        "abandoned_at": s.abandoned_at,
        "expired_at": s.expired_at,
        "abandon_reason": s.abandon_reason,
        "xp_awarded": s.xp_awarded,
        "coins_awarded": s.coins_awarded,
        "version": s.version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def _text(value: Any) -> str | None:
    """Stored text as a clean `str`: a lone surrogate (however it got in) becomes U+FFFD, so
    one odd row can never stop a query, an export or a rollup from working."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    return value


def _tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise TypeError("tags must be a list of strings")
    return tuple(t for t in (_text(v) for v in value) if t)


def session_from_row(r: Mapping[str, Any]) -> Session:
    return Session(
        id=r["id"],
        user_id=r["user_id"],
        client_id=r["client_id"],
        mode=Mode(r["mode"]),
        status=Status(r["status"]),
        task_title=_text(r["task_title"]),
        tags=_tags(r["tags"]),
        planned=timedelta(seconds=r["planned_seconds"]),
        extended=timedelta(microseconds=r["extended_us"]),
        started_at=r["started_at"],
        ends_at=r["ends_at"],
        paused_at=r["paused_at"],
        paused_remaining=_td(r["paused_remaining_us"]),
        pause_count=r["pause_count"],
        paused_total=timedelta(microseconds=r["paused_us"]),
        slept=timedelta(microseconds=r["slept_us"]),
        focused=timedelta(microseconds=r["focused_us"]),
        completed_at=r["completed_at"],
        abandoned_at=r["abandoned_at"],
        expired_at=r["expired_at"],
        abandon_reason=_text(r["abandon_reason"]),
        xp_awarded=r["xp_awarded"],
        coins_awarded=r["coins_awarded"],
        version=r["version"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def ledger_to_row(e: LedgerEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "user_id": e.user_id,
        "idempotency_key": e.idempotency_key,
        "session_id": e.session_id,
        "xp": e.xp,
        "coins": e.coins,
        "reason": e.reason,
        "created_at": e.created_at,
    }


def to_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as plain JSON: UUIDs as strings, instants as ISO 8601 with offset."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out


# -- SQLite values -----------------------------------------------------------------------

SESSION_COLUMNS = (
    "id",
    "user_id",
    "client_id",
    "mode",
    "status",
    "task_title",
    "tags",
    "planned_seconds",
    "extended_us",
    "started_at",
    "ends_at",
    "paused_at",
    "paused_remaining_us",
    "pause_count",
    "paused_us",
    "slept_us",
    "focused_us",
    "completed_at",
    "abandoned_at",
    "expired_at",
    "abandon_reason",
    "xp_awarded",
    "coins_awarded",
    "version",
    "created_at",
    "updated_at",
)
UUID_COLUMNS = frozenset(
    {"id", "user_id", "client_id", "session_id", "entity_id", "library_id", "changed_by"}
)
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
        "added_at",
        "last_sync_at",
        "deleted_at",
    }
)
JSON_COLUMNS = frozenset({"tags", "payload"})


def sqlite_instant(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime refused: {value!r}")
    if offset:
        value = value - offset  # the UTC wall time (formatted by hand: strftime is slow)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
    )


_PLAIN = (str, int, float, bool, type(None), bytes)


def to_sqlite(value: Any) -> Any:
    """One Python value as SQLite stores it."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return sqlite_instant(value)
    if isinstance(value, list | dict | tuple):
        return json.dumps(value)
    return value


def sqlite_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_sqlite(v) for k, v in row.items()}


def from_sqlite(column: str, value: Any) -> Any:
    """A stored SQLite value as the Python value of `column` (ValueError when malformed)."""
    if value is None:
        return None
    if column in UUID_COLUMNS:
        return uuid.UUID(value)
    if column in DATETIME_COLUMNS:
        instant = datetime.fromisoformat(value)
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
    if column in JSON_COLUMNS:
        return json.loads(value)
    return value


def session_from_sqlite(values: Sequence[Any]) -> Session:
    """A session from a row selected as `SESSION_COLUMNS`; ValueError/TypeError if malformed."""
    try:
        row = {c: from_sqlite(c, v) for c, v in zip(SESSION_COLUMNS, values, strict=True)}
        return session_from_row(row)
    except (KeyError, AttributeError) as exc:
        raise ValueError(str(exc)) from None
