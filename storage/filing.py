"""The zone the stats cache is filed in: recorded in the store, settled when it opens, and
re-filed (the cache rebuilt from sessions) when a configured zone differs."""

from __future__ import annotations

from collections import defaultdict
from datetime import tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.domain.errors import ChangedError, ReadOnlyError
from app.domain.models import Bucket
from app.domain.rollup import rollup_entries
from storage.codec import SESSION_COLUMNS
from storage.statements import ADD_ROLLUP, COLS, OPEN
from storage.unit import SqlTransaction, bucket_rows, recount_streak

if TYPE_CHECKING:
    from storage.sql import SqlRepository

REFILE_PAGE = 20_000
_STARTED = SESSION_COLUMNS.index("started_at")


async def rebuild_rollups(tx: SqlTransaction) -> None:
    """Recount the stats cache from sessions, inside the caller's write transaction (so no
    completion can slip between the read and the rewrite), in `tx.zone`."""
    user = tx.identity.user_id
    uid = tx.conn.value(user)
    totals: dict[tuple[str, str, str], Bucket] = defaultdict(Bucket)
    # In pages along the history index: no one statement reads a long history whole (on
    # Postgres, a million sessions in one read outlasts the statement timeout).
    page = f"SELECT {COLS} FROM sessions WHERE user_id = :uid AND NOT {OPEN} "
    after: dict[str, object] = {}
    while True:
        keyset = "AND (started_at, id) < (:at, :id) " if after else ""
        rows = await tx.conn.fetch(
            page + keyset + "ORDER BY started_at DESC, id DESC LIMIT :n",
            {"uid": uid, "n": REFILE_PAGE} | after,
        )
        for session in tx.skipped.decode(tx.conn, rows):
            for dim, key, mode, counts in rollup_entries(session, tx.zone):
                totals[(dim, key, mode)] += counts
        if len(rows) < REFILE_PAGE:
            break
        last = rows[-1]
        after = {"at": last[_STARTED], "id": last[0]}
    await tx.conn.execute("DELETE FROM rollups WHERE user_id = :uid", {"uid": uid})
    entries = [(d, k, m, b) for (d, k, m), b in totals.items()]
    await tx.conn.executemany(ADD_ROLLUP, bucket_rows(tx.conn, user, entries))
    tx.derived_rebuilt(await recount_streak(tx.conn, user, tx.zone))


def known_zone(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return None


def zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


async def settle_zone(
    repo: SqlRepository, stored: tzinfo | None, zone: tzinfo, configured: bool
) -> None:
    """Decide the zone the cache is filed in: the stored one, unless a configured zone
    differs, which re-files the cache (once per change)."""
    if stored is not None and (not configured or zone_name(stored) == zone_name(zone)):
        repo.zone = stored
        return
    try:
        await refile(repo, zone)
    except ReadOnlyError:
        repo.zone = stored or zone


async def refile(repo: SqlRepository, zone: tzinfo) -> None:
    """File the stats cache in `zone`: one write transaction that re-reads the recorded zone
    under the write lock, so two processes re-file at most once and never race a completion
    (a store that checks instead of locking says so, and it runs again)."""
    for attempt in range(1, 4):
        try:
            await _refile(repo, zone)
            return
        except ChangedError:
            if attempt == 3:
                raise


async def _refile(repo: SqlRepository, zone: tzinfo) -> None:
    async with repo.transaction() as tx:
        await tx.filing_zone()  # the store's write lock first, where it takes it lazily
        stored = await repo.recorder.recorded_zone(tx.conn, repo.identity)
        if stored is None or zone_name(stored) != zone_name(zone):
            tx.zone = zone
            await rebuild_rollups(tx)
            await repo.recorder.record_zone(tx.conn, repo.identity, zone_name(zone))
        await tx.commit()
    repo.zone = zone
