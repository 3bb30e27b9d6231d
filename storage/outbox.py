"""The device's recorder: every change appends an outbox row, in its own transaction, for the
sync engine to push; the zone the stats are filed in is kept in `meta`."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from typing import Any

from storage.codec import from_sqlite, to_payload
from storage.filing import known_zone
from storage.repository import Identity
from storage.unit import Change, Conn, SqlTransaction, TxStart

ADD_OUTBOX = (
    "INSERT INTO outbox (user_id, client_id, entity, entity_id, version, payload, created_at) "
    "VALUES (:user_id, :client_id, :entity, :entity_id, :version, :payload, :created_at)"
)
SET_META = (
    "INSERT INTO meta (key, value) VALUES (:key, :value) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


def outbox_row(conn: Conn, identity: Identity, change: Change) -> dict[str, Any]:
    row = change.row
    at: datetime = next(
        row[k] for k in ("updated_at", "created_at", "deleted_at", "added_at") if row.get(k)
    )
    return {
        "user_id": conn.value(identity.user_id),
        "client_id": conn.value(identity.client_id),
        "entity": change.entity,
        "entity_id": conn.value(change.entity_id),
        "version": change.version,
        "payload": json.dumps(to_payload(row)),
        "created_at": conn.value(at),
    }


class OutboxRecorder:
    """A device: every change appends an outbox row in its own transaction, in the order
    the changes happened, for the sync engine to push."""

    async def begin(self, conn: Conn, identity: Identity) -> TxStart:
        await conn.begin()
        return TxStart(conn, await self.recorded_zone(conn, identity))

    async def finish(self, tx: SqlTransaction) -> None:
        if tx.changes:
            # Sessions before the ledger rows that reward them: a batch boundary between the two
            # must never carry an award whose completion the server has not seen yet.
            ordered = sorted(tx.changes, key=lambda c: c.entity != "session")
            await tx.conn.executemany(
                ADD_OUTBOX, [outbox_row(tx.conn, tx.identity, c) for c in ordered]
            )

    async def recorded_zone(self, conn: Conn, identity: Identity) -> tzinfo | None:
        rows = await conn.fetch("SELECT value FROM meta WHERE key = 'rollup_tz'")
        return known_zone(rows[0][0]) if rows else None

    async def record_zone(self, conn: Conn, identity: Identity, zone: str) -> None:
        await set_meta(conn, "rollup_tz", zone)

    async def pending(self, conn: Conn, identity: Identity) -> int:
        rows = await conn.fetch(
            "SELECT count(*) FROM outbox WHERE user_id = :uid",
            {"uid": conn.value(identity.user_id)},
        )
        return int(rows[0][0])

    async def last_synced(self, conn: Conn, identity: Identity) -> datetime | None:
        rows = await conn.fetch(
            "SELECT last_sync_at FROM sync_state WHERE user_id = :uid AND client_id = :cid",
            {"uid": conn.value(identity.user_id), "cid": conn.value(identity.client_id)},
        )
        if not rows or rows[0][0] is None:
            return None
        try:
            at: datetime = from_sqlite("last_sync_at", rows[0][0])
            return at
        except (TypeError, ValueError):
            return None


async def set_meta(conn: Conn, key: str, value: str) -> None:
    await conn.execute(SET_META, {"key": key, "value": value})
