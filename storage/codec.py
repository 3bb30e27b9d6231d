"""Row <-> domain conversion, and the JSON payload an outbox row carries."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
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


def session_from_row(r: Mapping[str, Any]) -> Session:
    return Session(
        id=r["id"],
        user_id=r["user_id"],
        client_id=r["client_id"],
        mode=Mode(r["mode"]),
        status=Status(r["status"]),
        task_title=r["task_title"],
        tags=tuple(r["tags"] or ()),
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
        abandon_reason=r["abandon_reason"],
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
