"""The device's side of sync, on its SQLite store: the outbox read in order, acknowledged
after the server's commit, the user the database belongs to (adopted on the first sync),
the sync state (pull cursor, last sync) and the changes the server rejected."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.errors import ConfigError
from app.domain.models import LedgerEntry, Session
from storage.codec import DATETIME_COLUMNS, UUID_COLUMNS, from_sqlite, session_from_row
from storage.outbox import set_meta
from storage.repository import Identity
from storage.sql import SqlRepository
from storage.unit import Conn

# Tables whose rows carry the user: adopting rewrites them all.
USER_TABLES = (
    "sessions",
    "ledger",
    "rollups",
    "streak_cache",
    "libraries",
    "tracks",
    "outbox",
    "sync_state",
    "sync_rejections",
    "deletions",
    "uploads",
    "upload_parts",
)


@dataclass(frozen=True, slots=True)
class Pending:
    """One outbox row: a change to push."""

    mutation_id: int
    entity: str
    entity_id: uuid.UUID
    version: int
    stored: Any
    """The payload as stored (JSON text): decoded only for the changes a push sends, the
    latest of each entity."""
    readable: bool = True
    """Whether the stored payload is JSON at all (checked by the store while reading)."""

    @property
    def payload(self) -> dict[str, Any]:
        try:
            data = json.loads(self.stored) if isinstance(self.stored, str) else self.stored
        except ValueError as exc:
            raise ValueError(f"malformed change: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("malformed change: not an object")
        return data


@dataclass(frozen=True, slots=True)
class Rejection:
    """A change the server refused for good, with its reason."""

    mutation_id: int
    entity: str
    entity_id: uuid.UUID
    reason: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "mutation_id": self.mutation_id,
            "entity": self.entity,
            "entity_id": str(self.entity_id),
            "reason": self.reason,
            "at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class SyncState:
    pushed: int = 0
    """The last change id the server acknowledged to this device."""
    pull_cursor: int = 0
    last_sync_at: datetime | None = None
    last_error: str | None = None


def from_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in payload.items():
        if value is not None and key in UUID_COLUMNS:
            value = uuid.UUID(str(value))
        elif value is not None and key in DATETIME_COLUMNS:
            value = datetime.fromisoformat(str(value))
        row[key] = value
    return row


def session_of(pending: Pending, user_id: uuid.UUID) -> Session:
    """The session state an outbox row carries, as the server's user (ValueError if bad)."""
    try:
        row = from_payload(pending.payload) | {"user_id": user_id}
        return session_from_row(row)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed session change: {exc}") from None


def ledger_of(pending: Pending, user_id: uuid.UUID) -> LedgerEntry:
    try:
        row = from_payload(pending.payload)
        return LedgerEntry(
            id=row["id"],
            user_id=user_id,
            idempotency_key=str(row["idempotency_key"]),
            session_id=row["session_id"],
            xp=int(row["xp"]),
            coins=int(row["coins"]),
            reason=str(row["reason"]),
            created_at=row["created_at"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed award change: {exc}") from None


def fingerprint(change: Pending) -> str:
    """What names one change across a crash: its kind, entity and version."""
    return f"{change.entity}:{change.entity_id}:{change.version}"


async def read_outbox(conn: Conn, limit: int, only: int | None = None) -> list[Pending]:
    """The oldest `limit` pending changes (or the one numbered `only`)."""
    rows = await conn.fetch(
        "SELECT mutation_id, entity, entity_id, version, payload, json_valid(payload) FROM outbox "
        + ("WHERE mutation_id = :m " if only is not None else "")
        + "ORDER BY mutation_id LIMIT :n",
        {"n": limit} | ({"m": only} if only is not None else {}),
    )
    out = []
    for mutation_id, entity, entity_id, version, payload, valid in rows:
        try:
            out.append(
                Pending(
                    int(mutation_id),
                    str(entity),
                    from_sqlite("entity_id", entity_id),
                    int(version),
                    payload,
                    bool(valid),
                )
            )
        except (TypeError, ValueError):
            # Kept in order with an empty payload: the server's checks reject it by name.
            out.append(Pending(int(mutation_id), str(entity), uuid.UUID(int=0), 0, {}))
    return out


async def pending_ids(conn: Conn, entity: str) -> set[uuid.UUID]:
    """Entities of a kind that still have changes to push."""
    rows = await conn.fetch(
        "SELECT DISTINCT entity_id FROM outbox WHERE entity = :e", {"e": entity}
    )
    return {from_sqlite("entity_id", r[0]) for r in rows}


async def acknowledge(
    repo: SqlRepository, through: int, rejected: list[Rejection], now: datetime
) -> None:
    """The server committed every change up to `through`: drop them and keep the
    rejections, in one local transaction."""
    async with repo.transaction(local=False) as tx:
        c = tx.conn
        await c.execute("DELETE FROM outbox WHERE mutation_id <= :m", {"m": through})
        if rejected:
            await c.executemany(
                "INSERT INTO sync_rejections (user_id, client_id, mutation_id, entity, "
                "entity_id, reason, created_at) VALUES (:uid, :cid, :m, :e, :eid, :r, :at) "
                "ON CONFLICT DO NOTHING",
                [
                    {
                        "uid": c.value(repo.identity.user_id),
                        "cid": c.value(repo.identity.client_id),
                        "m": r.mutation_id,
                        "e": r.entity,
                        "eid": c.value(r.entity_id),
                        "r": r.reason,
                        "at": c.value(r.created_at),
                    }
                    for r in rejected
                ],
            )
        await _save_state(c, repo.identity, {"last_pushed_mutation_id": through})
        await tx.commit()


async def _save_state(conn: Conn, identity: Identity, values: dict[str, Any]) -> None:
    names = list(values)
    await conn.execute(
        f"INSERT INTO sync_state (user_id, client_id, {', '.join(names)}) "
        f"VALUES (:uid, :cid, {', '.join(':' + n for n in names)}) "
        "ON CONFLICT (user_id, client_id) DO UPDATE SET "
        + ", ".join(f"{n} = excluded.{n}" for n in names),
        {"uid": conn.value(identity.user_id), "cid": conn.value(identity.client_id)}
        | {n: conn.value(v) for n, v in values.items()},
    )


async def save_state(repo: SqlRepository, **values: Any) -> None:
    async with repo.transaction(local=False) as tx:
        await _save_state(tx.conn, repo.identity, values)
        await tx.commit()


async def read_state(repo: SqlRepository) -> SyncState:
    c = repo.conn
    rows = await c.fetch(
        "SELECT last_pushed_mutation_id, pull_cursor, last_sync_at, last_error FROM sync_state "
        "WHERE user_id = :uid AND client_id = :cid",
        {"uid": c.value(repo.identity.user_id), "cid": c.value(repo.identity.client_id)},
    )
    if not rows:
        return SyncState()
    pushed, cursor, at, error = rows[0]
    try:
        when = from_sqlite("last_sync_at", at) if isinstance(at, str) else at
    except ValueError:
        when = None
    return SyncState(int(pushed or 0), int(cursor or 0), when, error)


async def rejections(repo: SqlRepository) -> list[Rejection]:
    c = repo.conn
    rows = await c.fetch(
        "SELECT mutation_id, entity, entity_id, reason, created_at FROM sync_rejections "
        "WHERE user_id = :uid ORDER BY created_at, mutation_id",
        {"uid": c.value(repo.identity.user_id)},
    )
    out = []
    for m, entity, entity_id, reason, at in rows:
        try:
            out.append(
                Rejection(
                    int(m),
                    str(entity),
                    from_sqlite("entity_id", entity_id),
                    str(reason),
                    from_sqlite("created_at", at) if isinstance(at, str) else at,
                )
            )
        except (TypeError, ValueError):
            continue
    return out


# -- whose database this is -----------------------------------------------------------------


async def _meta(conn: Conn) -> dict[str, str]:
    return {str(k): str(v) for k, v in await conn.fetch("SELECT key, value FROM meta")}


async def claim(repo: SqlRepository, user_id: uuid.UUID, role: str, server: str) -> bool:
    """Make this database the server user's: on the first sync, everything recorded before
    (its rows and pending changes) is rewritten to `user_id` in one local transaction.
    A database that already belongs to another user is refused (ConfigError), unchanged.
    True when it was adopted now."""
    values = await _meta(repo.conn)
    owner = values.get("sync_user_id")
    if owner is not None:
        if owner != str(user_id):
            who = values.get("sync_role", "?")
            raise ConfigError(
                f"this database belongs to sync user {who} ({owner}); the sync URL logs in "
                f"as {role} ({user_id}): use {who}'s URL, or another --db for {role}"
            )
        return False
    old = repo.identity.user_id
    async with repo.transaction(local=False) as tx:
        c = tx.conn
        if old != user_id:
            # Tracks refer to their library by (user_id, id): the keys change table by table,
            # so the foreign keys are checked at the commit, when all of them have.
            await c.execute("PRAGMA defer_foreign_keys = ON", ())
            for table in USER_TABLES:
                await c.execute(
                    f"UPDATE {table} SET user_id = :new WHERE user_id = :old",
                    {"new": c.value(user_id), "old": c.value(old)},
                )
        for key, value in (
            ("user_id", str(user_id)),
            ("sync_user_id", str(user_id)),
            ("sync_role", role),
            ("sync_server", server),
        ):
            await set_meta(c, key, value)
        await tx.commit()
    repo.identity = Identity(user_id, repo.identity.client_id)
    return True
